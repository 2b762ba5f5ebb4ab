package config

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestLoadLambdaDefaults(t *testing.T) {
	c, err := LoadLambda(env(map[string]string{EnvPolicy: "tags: [created_by]"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxDelay != 900*time.Second || c.NotFoundAllowance != 5*time.Minute || c.CanaryTTL != 5*time.Minute ||
		c.TimeReserve != 3*time.Minute || c.Concurrency != 4 || c.MetricsNamespace != "awsaudit" ||
		c.ES.Indices.Audit != "aws-tag-audit" || c.ES.Indices.Violator != "aws-tag-violator" || c.DryRun {
		t.Fatalf("defaults %+v", c)
	}
}

// Every problem is reported at once, each naming its variable.
func TestLoadLambdaJoinsEveryProblem(t *testing.T) {
	_, err := LoadLambda(env(map[string]string{
		EnvMaxDelay:          "901",
		EnvDryRun:            "perhaps",
		EnvConcurrency:       "0",
		EnvLogLevel:          "loud",
		EnvESURL:             "ftp://es",
		EnvESUsername:        "elastic",
		EnvAuditIndex:        "Audit",
		EnvESSecretSSM:       "/a",
		EnvESSecretID:        "b",
		EnvNotFoundAllowance: "-1",
	}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{EnvPolicySSM, EnvMaxDelay, EnvDryRun, EnvConcurrency, EnvLogLevel, EnvESURL,
		EnvESPassword, EnvAuditIndex, EnvESSecretID, EnvNotFoundAllowance} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s:\n%v", want, err)
		}
	}
}

// The reconciler's time reserve has a floor: with none, nothing would be left to write or spool
// the documents in before the Lambda is stopped.
func TestTimeReserveBounds(t *testing.T) {
	tests := []struct {
		value string
		want  time.Duration // 0: refused
	}{
		{"0", 0},
		{"29.9", 0},
		{"30", 30 * time.Second},
		{"180", 3 * time.Minute},
		{"900", 15 * time.Minute},
		{"901", 0},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c, err := LoadLambda(env(map[string]string{EnvPolicy: "tags: [created_by]", EnvTimeReserve: tt.value}))
			switch {
			case tt.want == 0 && (err == nil || !strings.Contains(err.Error(), EnvTimeReserve) || !strings.Contains(err.Error(), "from 30 to 900")):
				t.Fatalf("error %v, want one naming %s and its range", err, EnvTimeReserve)
			case tt.want != 0 && err != nil:
				t.Fatal(err)
			case tt.want != 0 && c.TimeReserve != tt.want:
				t.Fatalf("TimeReserve %v, want %v", c.TimeReserve, tt.want)
			}
		})
	}
}

// The delays are at least 1 s, as the CLI's --max-delay and --retry-delay: a max delay of 0
// would send rechecks every second, and SQS takes a 0 delay as "the queue's default".
func TestDelayBounds(t *testing.T) {
	for _, name := range []string{EnvMaxDelay, EnvRetryDelay} {
		for _, tt := range []struct {
			value string
			want  time.Duration // 0: refused
		}{
			{"0", 0},
			{"0.5", 0},
			{"-1", 0},
			{"1", time.Second},
			{"900", 900 * time.Second},
			{"901", 0},
		} {
			t.Run(name+"="+tt.value, func(t *testing.T) {
				c, err := LoadLambda(env(map[string]string{EnvPolicy: "tags: [created_by]", name: tt.value}))
				got := c.MaxDelay
				if name == EnvRetryDelay {
					got = c.RetryDelay
				}
				switch {
				case tt.want == 0 && (err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "from 1 to 900")):
					t.Fatalf("error %v, want one naming %s and its range", err, name)
				case tt.want != 0 && err != nil:
					t.Fatal(err)
				case tt.want != 0 && got != tt.want:
					t.Fatalf("%s gives %v, want %v", name, got, tt.want)
				}
			})
		}
	}
}

func TestLogValueRedactsSecrets(t *testing.T) {
	c, err := LoadLambda(env(map[string]string{
		EnvPolicy: "tags: [x]", EnvESURL: "https://elastic:hunter2@es.example.com:9243",
		EnvESAPIKey: "c2VjcmV0LWtleQ==", EnvESUsername: "elastic", EnvESPassword: "hunter2",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("settings", "settings", c)
	out := buf.String()
	for _, secret := range []string{"hunter2", "c2VjcmV0LWtleQ=="} {
		if strings.Contains(out, secret) {
			t.Errorf("a secret reached the log: %s", out)
		}
	}
	if !strings.Contains(out, `"api_key_set":true`) || !strings.Contains(out, "es.example.com") {
		t.Errorf("log %s", out)
	}
}

// A URL that does not parse may hold a password that made it so: it is never shown.
func TestUnparseableURLsAreNotShown(t *testing.T) {
	for _, raw := range []string{"https://elastic:p%zz@es:9200", "https://elastic:pa#ss@es:9200", "https://elastic:se cret@es:9200"} {
		_, err := LoadES(env(map[string]string{EnvESURL: raw}))
		if err == nil {
			t.Errorf("%q accepted", raw)
			continue
		}
		for _, secret := range []string{"p%zz", "pa#ss", "se cret"} {
			if strings.Contains(err.Error(), secret) || strings.Contains(RedactURL(raw), secret) {
				t.Errorf("%q: the password shows: %v / %s", raw, err, RedactURL(raw))
			}
		}
	}
}

func TestIndicesMustDiffer(t *testing.T) {
	_, err := LoadES(env(map[string]string{EnvAuditIndex: "audit", EnvViolatorIndex: "audit"}))
	if err == nil || !strings.Contains(err.Error(), `both "audit"`) {
		t.Fatalf("error %v", err)
	}
}

func TestCheckIndex(t *testing.T) {
	for name, ok := range map[string]bool{"aws-tag-audit": true, "audit.v2": true, "": false, "Audit": false, "_x": false, "a b": false, "a*": false, "a:b": false} {
		if err := CheckIndex(name); (err == nil) != ok {
			t.Errorf("CheckIndex(%q) = %v", name, err)
		}
	}
}

// TestCredentialsOverPlainHTTP: credentials, or a secret to read them from, with a plain http URL
// to another machine are refused, naming the URL's source, the problem and where the credentials
// come from; plain http to the loopback, https, and plain http without credentials are accepted.
func TestCredentialsOverPlainHTTP(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string // fragments of the error; none when accepted
	}{
		{"api key", map[string]string{EnvESURL: "http://es.example.com:9200", EnvESAPIKey: "a2V5"},
			[]string{EnvESURL + ": http://es.example.com:9200 is plain http", "would cross the network unencrypted", "credentials from " + EnvESAPIKey}},
		{"basic auth", map[string]string{EnvESURL: "http://10.1.2.3:9200", EnvESUsername: "u", EnvESPassword: "hunter2"},
			[]string{"is plain http", EnvESUsername + "/" + EnvESPassword}},
		{"user info", map[string]string{EnvESURL: "http://u:hunter2@es.example.com"}, []string{"is plain http", "the URL's user info"}},
		{"secret in SSM", map[string]string{EnvESURL: "http://es.example.com", EnvESSecretSSM: "/awsaudit/es"}, []string{"is plain http", EnvESSecretSSM}},
		{"secret in Secrets Manager", map[string]string{EnvESURL: "http://es.example.com", EnvESSecretID: "awsaudit/es"}, []string{"is plain http", EnvESSecretID}},
		{"no credentials", map[string]string{EnvESURL: "http://es.example.com:9200"}, nil},
		{"https", map[string]string{EnvESURL: "https://es.example.com:9243", EnvESAPIKey: "a2V5"}, nil},
		{"localhost", map[string]string{EnvESURL: "http://localhost:9200", EnvESAPIKey: "a2V5"}, nil},
		{"127.0.0.0/8", map[string]string{EnvESURL: "http://127.10.0.1:9200", EnvESAPIKey: "a2V5"}, nil},
		{"::1", map[string]string{EnvESURL: "http://[::1]:9200", EnvESAPIKey: "a2V5"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadES(env(tc.env))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("LoadES: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("LoadES accepted credentials over plain http")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// TestCheckNamesTheSources: Check names the settings after where they came from, so a caller
// that replaced them (the CLI's flags) checks the values in effect and names its own sources.
func TestCheckNamesTheSources(t *testing.T) {
	e := ReadES(env(map[string]string{EnvESURL: "ftp://es", EnvAuditIndex: "Audit"}))
	err := e.Check("--es-url", "--audit-index")
	if err == nil || !strings.Contains(err.Error(), `--es-url: "ftp://es" is not an http(s) URL`) || !strings.Contains(err.Error(), "--audit-index: audit index") {
		t.Fatalf("Check = %v", err)
	}
	e.URL, e.Indices.Audit = "https://es.example.com", "audit"
	if err := e.Check("--es-url", "--audit-index"); err != nil {
		t.Fatalf("Check after the bad values were replaced = %v", err)
	}
}
