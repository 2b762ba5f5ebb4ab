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
