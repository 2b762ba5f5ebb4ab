package lambdaboot

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/awsaudit/awsaudit/internal/config"
	"github.com/awsaudit/awsaudit/internal/document"
	"github.com/awsaudit/awsaudit/internal/essink"
	"github.com/awsaudit/awsaudit/internal/estest"
	"github.com/awsaudit/awsaudit/internal/mototest"
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

// TestBootReadsTheAPIKeyFromSSM: end to end through Boot, a Lambda's Elasticsearch API key is
// read by name from an SSM SecureString parameter (in moto): the sink authenticates with it
// (the server takes no other credential), the documents written land, and the key is not
// logged.
func TestBootReadsTheAPIKeyFromSSM(t *testing.T) {
	const (
		key   = "bGFtYmRhOnNzbS1zZWNyZXQta2V5"
		param = "/tagaudit/es-api-key"
	)
	moto := mototest.Start(t)
	for _, kv := range moto.Env("us-east-1") {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	if _, err := ssm.NewFromConfig(moto.AWSConfig(t, "us-east-1")).PutParameter(t.Context(), &ssm.PutParameterInput{
		Name: aws.String(param), Type: ssmtypes.ParameterTypeSecureString, Value: aws.String(key)}); err != nil {
		t.Fatal(err)
	}
	es := estest.StartWith(t, estest.Options{APIKey: key})
	settings := map[string]string{
		config.EnvPolicy:      "tags: [created_by, department, project]\ngrace: 0\naction: report\n",
		config.EnvESURL:       es.URL,
		config.EnvESSecretSSM: param,
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env, err := Boot(t.Context(), "test", func(k string) string { return settings[k] }, &bytes.Buffer{}, log, new(slog.LevelVar), nil)
	if err != nil {
		t.Fatalf("Boot: %v", err)
	}
	sink, ok := env.Sink.(*essink.Sink)
	if !ok {
		t.Fatalf("the sink is a %T, want Elasticsearch", env.Sink)
	}
	defer sink.Close()

	h := document.Header{Timestamp: document.At(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)), RunID: "ev-ssm", Source: document.SourceEvent}
	v := &document.Violator{Header: h, ID: "i-0123456789abcdef0", Region: "us-east-1", State: "running", Verdict: "violator",
		MissingTags: []string{"project"}, Outcome: document.Reported}
	r := document.NewRollup(h)
	r.AddViolator(v)
	var docs []document.Document
	for _, d := range []struct {
		index, id string
		body      any
	}{{document.DefaultViolatorIndex, document.ViolatorID(h.RunID, v.ID), v}, {document.DefaultAuditIndex, document.RollupID(h.RunID), r}} {
		doc, err := document.New(d.index, d.id, document.OpCreate, d.body)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc)
	}
	if err := sink.Write(t.Context(), docs); err != nil {
		t.Fatalf("Write: %v", err)
	}
	for _, d := range docs {
		if _, ok := es.Doc(d.Index, d.ID); !ok {
			t.Errorf("%s/%s did not land", d.Index, d.ID)
		}
	}
	if !strings.Contains(logs.String(), "Elasticsearch credentials read") || strings.Contains(logs.String(), key) {
		t.Errorf("the log does not say the credentials were read, or shows the key:\n%s", logs.String())
	}
}
