package essink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/logkey"
)

// EnsureTemplates installs the composable index templates of both indices
// (document.Templates), each only when Elasticsearch does not already hold it at
// document.TemplateVersion or later, so that several processes starting together, or one
// calling twice, install each template once. Once it has succeeded a Sink does not ask again.
//
// Templates apply only to indices created after them, so it then brings each index that
// already exists up to date (updateIndexMapping): the fields its template has gained are added
// to its mapping, or documents with them would be rejected for good by its strict mapping. A
// field whose type changed cannot be changed in place; that index is named in the error. An
// index without awsaudit's strict mapping (created before its template, or by the original
// tool) is only warned about.
//
// Concurrent callers share one attempt: the records of a batch that all find the templates
// missing wait for the same requests instead of queueing for their own round of retries. The
// attempt runs to its end even when the caller that started it stops waiting (its context
// ended); a caller waits at most until its own context ends. An attempt that finds
// Elasticsearch unavailable (ErrUnavailable) is remembered for TemplateBackoff: calls in that
// time return its error at once, without a request, so that a Write fails fast and its caller
// spools the documents while the outage lasts.
func (s *Sink) EnsureTemplates(ctx context.Context) error {
	s.tmu.Lock()
	if s.templatesOK {
		s.tmu.Unlock()
		return nil
	}
	if err := ctx.Err(); err != nil {
		s.tmu.Unlock()
		return fmt.Errorf("installing the index templates in Elasticsearch at %s: %w", s.url, err)
	}
	c := s.tcall
	if c == nil {
		if s.unavailable != nil {
			if left := s.retryAt.Sub(s.cfg.Now()); left > 0 {
				err := s.unavailable
				s.tmu.Unlock()
				return fmt.Errorf("%w (remembered: not tried again for another %s)", err, left.Round(time.Millisecond))
			}
		}
		actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &templateCall{done: make(chan struct{}), cancel: cancel}
		s.tcall = c
		go s.runTemplates(actx, c)
	}
	s.tmu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		select {
		case <-c.done:
			return c.err
		default:
		}
		return fmt.Errorf("waiting for the index templates to be installed in Elasticsearch at %s (the attempt goes on for later writes): %w", s.url, ctx.Err())
	}
}

// templateCall is one attempt at installing the templates, shared by the callers that arrive
// while it runs. err is set before done is closed.
type templateCall struct {
	done   chan struct{}
	cancel context.CancelFunc
	err    error
}

// runTemplates makes the attempt c and records its result: success for good, an unavailable
// Elasticsearch for TemplateBackoff.
func (s *Sink) runTemplates(ctx context.Context, c *templateCall) {
	err := s.installTemplates(ctx)
	s.tmu.Lock()
	s.tcall = nil
	switch {
	case err == nil:
		s.templatesOK, s.unavailable = true, nil
	case errors.Is(err, ErrUnavailable) && s.cfg.TemplateBackoff > 0:
		s.unavailable, s.retryAt = err, s.cfg.Now().Add(s.cfg.TemplateBackoff)
		s.cfg.Log.Warn("Elasticsearch is unavailable: writes fail at once, without a request, until the index templates are tried again",
			"retry_in_ms", s.cfg.TemplateBackoff.Milliseconds(), logkey.Error, err.Error())
	}
	c.err = err
	s.tmu.Unlock()
	c.cancel()
	close(c.done)
}

// forgetUnavailable drops a remembered unavailable Elasticsearch, so the next call tries again.
func (s *Sink) forgetUnavailable() {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	s.unavailable = nil
}

// stopTemplates cancels the attempt in flight, if any, and waits for it to end.
func (s *Sink) stopTemplates() {
	s.tmu.Lock()
	c := s.tcall
	s.tmu.Unlock()
	if c != nil {
		c.cancel()
		<-c.done
	}
}

// installTemplates is one attempt: each template checked and installed in turn, then the
// mappings of the indices that exist brought up to date. Each template is named for the one
// index it applies to.
func (s *Sink) installTemplates(ctx context.Context) error {
	templates := document.Templates(s.cfg.Indices)
	names := slices.Sorted(maps.Keys(templates))
	newer := map[string]bool{}
	for _, name := range names {
		n, err := s.ensureTemplate(ctx, name, templates[name])
		if err != nil {
			return fmt.Errorf("installing the index template %s in Elasticsearch at %s: %w", name, s.url, err)
		}
		newer[name] = n
	}
	for _, index := range names {
		if newer[index] {
			// The newer awsaudit that installed the template keeps the index's mapping.
			continue
		}
		if err := s.updateIndexMapping(ctx, index, templateMapping(templates[index])); err != nil {
			return fmt.Errorf("updating the mapping of the index %s in Elasticsearch at %s: %w", index, s.url, err)
		}
	}
	return nil
}

// ensureTemplate installs the template name unless Elasticsearch holds it at
// document.TemplateVersion or later; newer reports a later version, installed by a newer
// awsaudit.
func (s *Sink) ensureTemplate(ctx context.Context, name string, tmpl map[string]any) (newer bool, err error) {
	installed, err := s.installedVersion(ctx, name)
	if err != nil {
		return false, err
	}
	if installed >= document.TemplateVersion {
		if installed > document.TemplateVersion {
			s.cfg.Log.Warn("a newer awsaudit installed this index template; it is kept", logkey.Index, name,
				"installed_version", installed, "version", document.TemplateVersion)
			return true, nil
		}
		return false, nil
	}
	body, err := json.Marshal(tmpl)
	if err != nil {
		return false, fmt.Errorf("encoding the template: %w", err)
	}
	res, err := s.send(ctx, esapi.IndicesPutIndexTemplateRequest{Name: name, Body: bytes.NewReader(body)})
	if err != nil {
		return false, err
	}
	if !ok(res) {
		return false, s.failure(res)
	}
	res.Body.Close()
	s.cfg.Log.Info("index template installed", logkey.Index, name, "version", document.TemplateVersion)
	return false, nil
}

// templateMapping is the mappings of a template built by document.Template.
func templateMapping(tmpl map[string]any) map[string]any {
	t, _ := tmpl["template"].(map[string]any)
	m, _ := t["mappings"].(map[string]any)
	return m
}

// installedVersion returns the version of the installed template name, 0 when there is none
// (or it has no version).
func (s *Sink) installedVersion(ctx context.Context, name string) (int64, error) {
	res, err := s.send(ctx, esapi.IndicesGetIndexTemplateRequest{Name: name})
	if err != nil {
		return 0, err
	}
	if res.StatusCode == http.StatusNotFound {
		res.Body.Close()
		return 0, nil
	}
	if !ok(res) {
		return 0, s.failure(res)
	}
	defer res.Body.Close()
	var got struct {
		IndexTemplates []struct {
			Name          string `json:"name"`
			IndexTemplate struct {
				Version *int64 `json:"version"`
			} `json:"index_template"`
		} `json:"index_templates"`
	}
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		return 0, fmt.Errorf("reading the installed template: %w", err)
	}
	for _, t := range got.IndexTemplates {
		if t.Name == name && t.IndexTemplate.Version != nil {
			return *t.IndexTemplate.Version, nil
		}
	}
	return 0, nil
}

// updateIndexMapping puts mapping on index when the index exists with awsaudit's strict
// mapping, so that it has every field of the current template: Elasticsearch adds the fields
// it lacks and keeps the rest. An index that does not exist is left for its template to
// create. One that is not dynamic strict was not created from awsaudit's template: it only gets
// a warning, since documents are written into it as it is. A field whose type differs is an
// error naming the index (ES cannot change a field's type in place); it is not tried again
// within the attempt.
//
// Credentials without the privileges to read or update an index's mapping (view_index_metadata,
// manage) only get a warning: documents are still written, and any with a field the index lacks
// is refused with its reason and spooled, never lost.
func (s *Sink) updateIndexMapping(ctx context.Context, index string, mapping map[string]any) error {
	err := s.putIndexMapping(ctx, index, mapping)
	var re *ResponseError
	if errors.As(err, &re) && re.Status == http.StatusForbidden {
		s.cfg.Log.Warn("cannot bring the existing index's mapping up to date: the credentials lack the manage privilege on it; "+
			"documents with fields it does not have will be refused (and spooled) until it is updated", logkey.Index, index, logkey.Error, err.Error())
		return nil
	}
	return err
}

func (s *Sink) putIndexMapping(ctx context.Context, index string, mapping map[string]any) error {
	dynamic, err := s.indexDynamic(ctx, index)
	if err != nil {
		return err
	}
	// Several names when index is an alias: each index behind it is checked and updated.
	var strict []string
	for _, name := range slices.Sorted(maps.Keys(dynamic)) {
		if dynamic[name] == "strict" {
			strict = append(strict, name)
			continue
		}
		s.cfg.Log.Warn("the index exists without awsaudit's strict mapping (it was created before its template); documents are written into it as it is, reindex it to get the explicit mappings",
			logkey.Index, name)
	}
	if len(strict) == 0 {
		return nil
	}
	body, err := json.Marshal(mapping)
	if err != nil {
		return fmt.Errorf("encoding the mapping: %w", err)
	}
	res, err := s.send(ctx, esapi.IndicesPutMappingRequest{Index: strict, Body: bytes.NewReader(body)})
	if err != nil {
		return err
	}
	if res.StatusCode == http.StatusNotFound {
		// Deleted since it was read: its template creates it again.
		res.Body.Close()
		return nil
	}
	if !ok(res) {
		err := s.failure(res)
		var re *ResponseError
		if errors.As(err, &re) && re.Status == http.StatusBadRequest && re.Type == "illegal_argument_exception" {
			return fmt.Errorf("the index has a field of another type than awsaudit's mapping gives it now, which Elasticsearch cannot change in place "+
				"(%w); documents with that field would be rejected: reindex %s into a new index created from awsaudit's template, or delete it", err, index)
		}
		return err
	}
	res.Body.Close()
	s.cfg.Log.Debug("the index's mapping has every field of its template", logkey.Index, index, "version", document.TemplateVersion)
	return nil
}

// indexDynamic returns the dynamic setting of the mapping of each index that index names (the
// index itself, or the indices behind an alias); none when it does not exist.
func (s *Sink) indexDynamic(ctx context.Context, index string) (map[string]string, error) {
	res, err := s.send(ctx, esapi.IndicesGetMappingRequest{Index: []string{index}})
	if err != nil {
		return nil, err
	}
	if res.StatusCode == http.StatusNotFound {
		res.Body.Close()
		return nil, nil
	}
	if !ok(res) {
		return nil, s.failure(res)
	}
	defer res.Body.Close()
	var got map[string]struct {
		Mappings struct {
			Dynamic any `json:"dynamic"`
		} `json:"mappings"`
	}
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		return nil, fmt.Errorf("reading the index's mapping: %w", err)
	}
	dynamic := make(map[string]string, len(got))
	for name, m := range got {
		dynamic[name] = fmt.Sprint(m.Mappings.Dynamic)
	}
	return dynamic, nil
}
