package lambdaboot

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/essink"
	"github.com/awsaudit/awsaudit/internal/estest"
)

// TestOpenSinkRefusesPlainSecrets: Elasticsearch credentials in a Lambda's plain environment
// variables fail init with an error naming each variable and where the credentials go instead,
// and never holding the credentials.
func TestOpenSinkRefusesPlainSecrets(t *testing.T) {
	const (
		key      = "c2VjcmV0LWtleS1mb3ItdGVzdHM="
		password = "hunter2-for-tests"
	)
	tests := []struct {
		name string
		es   config.ES
		want []string
	}{
		{"API key", config.ES{URL: "https://es.example.com", APIKey: key}, []string{config.EnvESAPIKey}},
		{"API key without a URL", config.ES{APIKey: key}, []string{config.EnvESAPIKey}},
		{"password", config.ES{URL: "https://es.example.com", Username: "elastic", Password: password}, []string{config.EnvESPassword}},
		{"user info in the URL", config.ES{URL: "https://elastic:" + password + "@es.example.com:9243"}, []string{config.EnvESURL}},
		{"user name in the URL", config.ES{URL: "https://elastic@es.example.com"}, []string{config.EnvESURL}},
		{"all of them, with a secret named too", config.ES{URL: "https://elastic:" + password + "@es.example.com", APIKey: key, Username: "elastic", Password: password, SecretID: "tagaudit/es"},
			[]string{config.EnvESAPIKey, config.EnvESPassword, config.EnvESURL}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout bytes.Buffer
			sink, err := OpenSink(t.Context(), tt.es, nil, nil, &stdout, slog.New(slog.DiscardHandler))
			if err == nil {
				t.Fatalf("OpenSink = %T, want an error", sink)
			}
			for _, want := range append(tt.want, config.EnvESSecretSSM, config.EnvESSecretID) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
			}
			if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), password) {
				t.Errorf("error %q holds a credential", err)
			}
		})
	}
}

// TestOpenSinkAppliesOptions: a function's options size the Elasticsearch sink; the settings
// read from the environment are in the Config they get.
func TestOpenSinkAppliesOptions(t *testing.T) {
	srv := estest.Start(t)
	es := config.ES{URL: srv.URL, Indices: document.DefaultIndices()}
	var got essink.Config
	sink, err := OpenSink(t.Context(), es, nil, nil, &bytes.Buffer{}, slog.New(slog.DiscardHandler), func(c *essink.Config) {
		c.Timeout = 3 * time.Second
		got = *c
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.(*essink.Sink).Close()
	if got.URL != srv.URL || got.Indices != es.Indices || got.StartupTimeout != esStartupTimeout || got.Now == nil {
		t.Fatalf("the option got %+v", got)
	}
	if len(srv.Templates()) != 2 {
		t.Fatalf("templates %v", srv.Templates())
	}
}
