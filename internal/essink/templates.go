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
// It also warns about an index that already exists without awsaudit's strict mapping (created
// before its template, or by the original tool): templates apply only to new indices.
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
// indices' mappings checked.
func (s *Sink) installTemplates(ctx context.Context) error {
	templates := document.Templates(s.cfg.Indices)
	for _, name := range slices.Sorted(maps.Keys(templates)) {
		if err := s.ensureTemplate(ctx, name, templates[name]); err != nil {
			return fmt.Errorf("installing the index template %s in Elasticsearch at %s: %w", name, s.url, err)
		}
	}
	for _, index := range slices.Sorted(maps.Keys(templates)) {
		s.checkIndexMapping(ctx, index)
	}
	return nil
}

func (s *Sink) ensureTemplate(ctx context.Context, name string, tmpl map[string]any) error {
	installed, err := s.installedVersion(ctx, name)
	if err != nil {
		return err
	}
	if installed >= document.TemplateVersion {
		if installed > document.TemplateVersion {
			s.cfg.Log.Warn("a newer awsaudit installed this index template; it is kept", logkey.Index, name,
				"installed_version", installed, "version", document.TemplateVersion)
		}
		return nil
	}
	body, err := json.Marshal(tmpl)
	if err != nil {
		return fmt.Errorf("encoding the template: %w", err)
	}
	res, err := s.send(ctx, esapi.IndicesPutIndexTemplateRequest{Name: name, Body: bytes.NewReader(body)})
	if err != nil {
		return err
	}
	if !ok(res) {
		return s.failure(res)
	}
	res.Body.Close()
	s.cfg.Log.Info("index template installed", logkey.Index, name, "version", document.TemplateVersion)
	return nil
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

// checkIndexMapping warns when index exists with a mapping that is not dynamic strict. It only
// warns: documents are still written there, and failing to check is not an error.
func (s *Sink) checkIndexMapping(ctx context.Context, index string) {
	res, err := s.send(ctx, esapi.IndicesGetMappingRequest{Index: []string{index}})
	if err != nil {
		return
	}
	defer res.Body.Close()
	if !ok(res) {
		return
	}
	var got map[string]struct {
		Mappings struct {
			Dynamic any `json:"dynamic"`
		} `json:"mappings"`
	}
	if json.NewDecoder(res.Body).Decode(&got) != nil {
		return
	}
	for name, m := range got {
		if fmt.Sprint(m.Mappings.Dynamic) != "strict" {
			s.cfg.Log.Warn("the index exists without awsaudit's strict mapping (it was created before its template); documents are written into it as it is, reindex it to get the explicit mappings",
				logkey.Index, name)
		}
	}
}
