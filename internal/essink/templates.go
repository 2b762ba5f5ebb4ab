package essink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"

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
func (s *Sink) EnsureTemplates(ctx context.Context) error {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if s.templatesOK {
		return nil
	}
	templates := document.Templates(s.cfg.Indices)
	for _, name := range slices.Sorted(maps.Keys(templates)) {
		if err := s.ensureTemplate(ctx, name, templates[name]); err != nil {
			return fmt.Errorf("installing the index template %s in Elasticsearch at %s: %w", name, s.url, err)
		}
	}
	for _, index := range slices.Sorted(maps.Keys(templates)) {
		s.checkIndexMapping(ctx, index)
	}
	s.templatesOK = true
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
