package estest

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
)

// Request is one entry of the request log.
type Request struct {
	Method string
	Path   string
	Query  string // raw query string
	Header http.Header
	// Status is the HTTP status answered; 0 when the connection was dropped.
	Status int
	// Fault names the injected fault that decided the answer: "fail"
	// (FailNext), "drop" (DropConnections), "down" (Down), "client_gone"
	// (the client left during SetLatency's delay); empty otherwise.
	Fault string
}

// Doc is a stored document.
type Doc struct {
	Index   string
	ID      string
	Version int64
	SeqNo   int64
	// Source is the document decoded with encoding/json defaults
	// (numbers are float64).
	Source map[string]any
	// Raw is the _source exactly as it was sent.
	Raw json.RawMessage
}

// Template is an installed composable index template.
type Template struct {
	Name          string
	IndexPatterns []string
	Priority      int64
	// Settings is in the nested form GET _index_template answers with:
	// {"index":{"number_of_shards":"1"}}.
	Settings map[string]any
	Mappings map[string]any
	// Body is the "index_template" document GET _index_template answers.
	Body json.RawMessage
}

func (s *Server) record(r Request) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.requests = append(s.requests, r)
}

// Requests returns the request log in arrival order, faults included.
func (s *Server) Requests() []Request {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return append([]Request(nil), s.requests...)
}

// CountRequests counts logged requests with the method ("" for any) whose
// path starts with pathPrefix, e.g. CountRequests("PUT", "/_index_template/").
func (s *Server) CountRequests(method, pathPrefix string) int {
	n := 0
	for _, r := range s.Requests() {
		if (method == "" || r.Method == method) && strings.HasPrefix(r.Path, pathPrefix) {
			n++
		}
	}
	return n
}

// Indices returns the names of existing indices, sorted.
func (s *Server) Indices() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.indices))
	for n := range s.indices {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Docs returns the documents of index in the order they were last written
// (nil if the index does not exist). Like Doc and Count, it reads the store
// directly: it sees every write at once, refreshed or not.
func (s *Server) Docs(index string) []Doc {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := s.indices[index]
	if idx == nil {
		return nil
	}
	var out []Doc
	for _, d := range ordered(idx.docs) {
		out = append(out, d.export(idx.name))
	}
	return out
}

// Doc returns one document and whether it exists.
func (s *Server) Doc(index, id string) (Doc, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := s.indices[index]
	if idx == nil {
		return Doc{}, false
	}
	d := idx.docs[id]
	if d == nil {
		return Doc{}, false
	}
	return d.export(idx.name), true
}

// Count returns the number of documents in index (0 if it does not exist).
func (s *Server) Count(index string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx := s.indices[index]; idx != nil {
		return len(idx.docs)
	}
	return 0
}

// Mapping returns index's current mapping, dynamic additions included, as
// GET /{index}/_mapping shows it; nil if the index does not exist.
func (s *Server) Mapping(index string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := s.indices[index]
	if idx == nil {
		return nil
	}
	return toPlain(idx.mapping.render())
}

// Templates returns the installed index templates sorted by name.
func (s *Server) Templates() []Template {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.templates))
	for n := range s.templates {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Template, 0, len(names))
	for _, n := range names {
		out = append(out, s.templates[n].export())
	}
	return out
}

// toPlain converts a rendered value into plain maps and slices, as
// encoding/json would decode it.
func toPlain(v any) map[string]any {
	b, err := marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil
	}
	return m
}
