package essink_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/awsaudit/awsaudit/internal/essink"
	"github.com/awsaudit/awsaudit/internal/estest"
)

var (
	goodKey  = base64.StdEncoding.EncodeToString([]byte("VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw"))
	wrongKey = base64.StdEncoding.EncodeToString([]byte("VuaCfGcBCdbkQm-e5aOx:s3cr3t-but-wrong-key"))
)

const (
	user          = "awsaudit_writer"
	goodPassword  = "correct-horse-battery"
	wrongPassword = "Tr0ub4dor&3-wrong"
)

// TestAuth: API keys and basic auth (also from the URL's user info) are accepted; wrong ones
// give a clear 401 error that holds no credential, and writes then fail every document.
func TestAuth(t *testing.T) {
	srv := estest.StartWith(t, estest.Options{APIKey: goodKey, Username: user, Password: goodPassword})
	withUserinfo := func(u, p string) string {
		parsed, _ := url.Parse(srv.URL)
		parsed.User = url.UserPassword(u, p)
		return parsed.String()
	}
	for _, tc := range []struct {
		name    string
		cfg     essink.Config
		wantErr bool
		secret  string
	}{
		{"api key", essink.Config{URL: srv.URL, APIKey: goodKey}, false, ""},
		{"wrong api key", essink.Config{URL: srv.URL, APIKey: wrongKey}, true, wrongKey},
		{"basic auth", essink.Config{URL: srv.URL, Username: user, Password: goodPassword}, false, ""},
		{"wrong password", essink.Config{URL: srv.URL, Username: user, Password: wrongPassword}, true, wrongPassword},
		{"basic auth in the URL", essink.Config{URL: withUserinfo(user, goodPassword)}, false, ""},
		{"wrong password in the URL", essink.Config{URL: withUserinfo(user, wrongPassword)}, true, wrongPassword},
		{"no credentials", essink.Config{URL: srv.URL}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			base := fastConfig(t, srv)
			cfg.RetryWaitMin, cfg.RetryWaitMax, cfg.Log = base.RetryWaitMin, base.RetryWaitMax, base.Log
			s := newSink(t, cfg)
			err := s.EnsureTemplates(bg)
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("EnsureTemplates: %v", err)
				}
				docs := violatorDocs(t, "run-1", 2)
				if err := s.Write(bg, docs); err != nil {
					t.Fatalf("Write: %v", err)
				}
				assertStoredOnce(t, srv, docs)
				return
			}
			t.Logf("EnsureTemplates: %v", err)
			if err == nil || !essink.IsAuth(err) || !strings.Contains(err.Error(), "Elasticsearch refused the credentials (401 security_exception)") {
				t.Fatalf("EnsureTemplates = %v, want a clear 401", err)
			}
			if errors.Is(err, essink.ErrUnavailable) {
				t.Error("a 401 matches ErrUnavailable")
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("the error shows the credential: %v", err)
			}
			docs := violatorDocs(t, "run-1", 2)
			we := writeErr(t, s.Write(bg, docs))
			if len(we.Failed) != 2 || !essink.IsAuth(we.Failed[0].Err) {
				t.Errorf("Write = %v, want both documents refused", we)
			}
		})
	}
}

// TestAuthFailureMidRun: credentials refused on _bulk (revoked during the run) fail the batch
// and leave the later batches unsent.
func TestAuthFailureMidRun(t *testing.T) {
	srv := estest.Start(t)
	cfg := fastConfig(t, srv)
	cfg.BatchDocs = 2
	s := newSink(t, cfg)
	docs := violatorDocs(t, "run-1", 6)
	srv.FailNextOn("/_bulk", 1, http.StatusUnauthorized)
	we := writeErr(t, s.Write(bg, docs))
	if len(we.Failed) != 6 || !essink.IsAuth(we.Failed[5].Err) {
		t.Fatalf("Write = %v", we)
	}
	if n := srv.CountRequests(http.MethodPost, "/_bulk"); n != 1 {
		t.Errorf("%d _bulk requests, want 1", n)
	}
}

// TestTLS: TLS is verified; a CA file with the server's certificate makes it trusted, and
// without it the certificate error is clear and not retried.
func TestTLS(t *testing.T) {
	srv := estest.StartWith(t, estest.Options{TLS: true, APIKey: goodKey})
	caFile := writeFile(t, "ca.pem", srv.CACert())

	t.Run("trusted with the CA file", func(t *testing.T) {
		cfg := fastConfig(t, srv)
		cfg.APIKey, cfg.CAFile = goodKey, caFile
		s := newSink(t, cfg)
		docs := violatorDocs(t, "run-1", 2)
		if err := s.Write(bg, docs); err != nil {
			t.Fatalf("Write: %v", err)
		}
		assertStoredOnce(t, srv, docs)
	})
	t.Run("untrusted without it", func(t *testing.T) {
		cfg := fastConfig(t, srv)
		cfg.APIKey = goodKey
		err := newSink(t, cfg).EnsureTemplates(bg)
		t.Logf("EnsureTemplates: %v", err)
		if err == nil || !strings.Contains(err.Error(), "certificate") || !strings.Contains(err.Error(), "CA file") {
			t.Fatalf("EnsureTemplates = %v, want a certificate error", err)
		}
		if errors.Is(err, essink.ErrUnavailable) {
			t.Error("a certificate error matches ErrUnavailable (it would be waited out instead of fixed)")
		}
		if _, err := essink.Open(bg, cfg); err == nil {
			t.Error("Open accepted an untrusted certificate")
		}
	})
	t.Run("plain HTTP to a TLS server", func(t *testing.T) {
		cfg := fastConfig(t, srv)
		cfg.URL = strings.Replace(srv.URL, "https://", "http://", 1)
		err := newSink(t, cfg).EnsureTemplates(bg)
		if err == nil {
			t.Fatal("EnsureTemplates over plain HTTP to a TLS server succeeded")
		}
	})
}

// TestConfigErrors: a CA file that cannot be read or holds no certificate, and a bad URL, are
// refused by New with a clear message.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, []byte("not a certificate\n"), 0o600)
	for _, tc := range []struct {
		name string
		cfg  essink.Config
		want string
	}{
		{"missing CA file", essink.Config{URL: "https://es:9200", CAFile: filepath.Join(dir, "missing.pem")}, "reading the Elasticsearch CA file"},
		{"CA file without a certificate", essink.Config{URL: "https://es:9200", CAFile: empty}, "holds no PEM certificate"},
		{"not a URL", essink.Config{URL: "es:9200"}, "is not an http(s) URL"},
		{"credentials in a bad URL", essink.Config{URL: "ftp://user:" + goodPassword + "@es"}, "is not an http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := essink.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), goodPassword) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// TestCredentialsOverPlainHTTP: New refuses to send credentials over plain http to another
// machine, saying why and never showing them; plain http without credentials, https, and plain
// http to the loopback are accepted.
func TestCredentialsOverPlainHTTP(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  essink.Config
		ok   bool
	}{
		{"api key", essink.Config{URL: "http://es.example.com:9200", APIKey: goodKey}, false},
		{"basic auth", essink.Config{URL: "http://es.example.com:9200", Username: user, Password: goodPassword}, false},
		{"user info in the URL", essink.Config{URL: "http://" + user + ":" + goodPassword + "@es.example.com:9200"}, false},
		{"private address", essink.Config{URL: "http://10.0.0.5:9200", APIKey: goodKey}, false},
		{"no credentials", essink.Config{URL: "http://es.example.com:9200"}, true},
		{"https", essink.Config{URL: "https://es.example.com:9243", APIKey: goodKey}, true},
		{"localhost", essink.Config{URL: "http://localhost:9200", APIKey: goodKey}, true},
		{"127.0.0.0/8", essink.Config{URL: "http://127.0.0.2:9200", Username: user, Password: goodPassword}, true},
		{"::1", essink.Config{URL: "http://[::1]:9200", APIKey: goodKey}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := essink.New(tc.cfg)
			if tc.ok {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("New accepted credentials over plain http")
			}
			if !strings.Contains(err.Error(), "is plain http: the Elasticsearch credentials would cross the network unencrypted") || !strings.Contains(err.Error(), "use https") {
				t.Errorf("New = %v, want the problem named", err)
			}
			if strings.Contains(err.Error(), goodPassword) || strings.Contains(err.Error(), goodKey) {
				t.Errorf("the error shows a credential: %v", err)
			}
		})
	}
}

// TestOpen: Open installs the templates; when Elasticsearch is unreachable it warns and returns
// the sink, which installs them before its first write; refused credentials are an error.
func TestOpen(t *testing.T) {
	t.Run("reachable", func(t *testing.T) {
		srv := estest.Start(t)
		s, err := essink.Open(bg, fastConfig(t, srv))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if len(srv.Templates()) != 2 {
			t.Errorf("templates = %v", srv.Templates())
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		srv := estest.Start(t)
		srv.Down()
		var logs captureLog
		cfg := fastConfig(t, srv)
		cfg.Log = logs.logger()
		s, err := essink.Open(bg, cfg)
		if err != nil {
			t.Fatalf("Open = %v, want a warning only", err)
		}
		defer s.Close()
		if !strings.Contains(logs.String(), "Elasticsearch is unreachable") {
			t.Errorf("no warning; log:\n%s", logs.String())
		}
		srv.Up()
		docs := violatorDocs(t, "run-1", 2)
		if err := s.Write(bg, docs); err != nil {
			t.Fatalf("Write once it is back: %v", err)
		}
		if len(srv.Templates()) != 2 {
			t.Errorf("the first write did not install the templates: %v", srv.Templates())
		}
		assertStoredOnce(t, srv, docs)
	})
	t.Run("credentials refused", func(t *testing.T) {
		srv := estest.StartWith(t, estest.Options{APIKey: goodKey})
		cfg := fastConfig(t, srv)
		cfg.APIKey = wrongKey
		if _, err := essink.Open(bg, cfg); !essink.IsAuth(err) {
			t.Fatalf("Open = %v, want a 401", err)
		}
	})
}

// TestCredentialsNeverLogged: everything the sink logs at debug and every error it returns,
// through refused credentials, retries, an outage and successful writes, holds none of the
// credentials in any form they travel in.
func TestCredentialsNeverLogged(t *testing.T) {
	srv := estest.StartWith(t, estest.Options{APIKey: goodKey, Username: user, Password: goodPassword})
	var logs captureLog
	var errs []string
	secrets := []string{goodKey, wrongKey, goodPassword, wrongPassword, "ui2lp2axTNmsyakw9tvNnw", "s3cr3t-but-wrong-key",
		base64.StdEncoding.EncodeToString([]byte(user + ":" + goodPassword)),
		base64.StdEncoding.EncodeToString([]byte(user + ":" + wrongPassword))}
	run := func(cfg essink.Config) {
		t.Helper()
		cfg.Log = logs.logger()
		s, err := essink.Open(bg, cfg)
		if err != nil {
			errs = append(errs, err.Error())
			if s, err = essink.New(cfg); err != nil {
				t.Fatal(err)
			}
		}
		defer s.Close()
		srv.FailNextOn("/_bulk", 1, http.StatusServiceUnavailable)
		srv.DropConnections(1)
		srv.RejectItems(onceRejecter(http.StatusTooManyRequests, func(string) bool { return true }))
		if err := s.Write(bg, violatorDocs(t, "run-1", 3)); err != nil {
			errs = append(errs, err.Error())
		}
		srv.Down()
		if err := s.Write(bg, violatorDocs(t, "run-2", 3)); err != nil {
			errs = append(errs, err.Error())
		}
		srv.Up()
	}
	base := fastConfig(t, srv)
	for _, cfg := range []essink.Config{
		{URL: srv.URL, APIKey: goodKey},
		{URL: srv.URL, APIKey: wrongKey},
		{URL: srv.URL, Username: user, Password: goodPassword},
		{URL: srv.URL, Username: user, Password: wrongPassword},
		{URL: strings.Replace(srv.URL, "://", "://"+user+":"+wrongPassword+"@", 1)},
	} {
		cfg.RetryWaitMin, cfg.RetryWaitMax = base.RetryWaitMin, base.RetryWaitMax
		run(cfg)
	}
	out := logs.String() + strings.Join(errs, "\n")
	if !strings.Contains(out, "refused the credentials") || !strings.Contains(out, "performing request") || !strings.Contains(out, "sending them again") {
		t.Fatalf("the run did not go through refusals, retries and the transport's log; got:\n%s", out)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("a credential (%.4s…) appears in the log or the errors", s)
		}
	}
}
