package secrets

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/awsaudit/awsaudit/internal/awsapi"
	"github.com/awsaudit/awsaudit/internal/mototest"
)

func TestParseESCredentials(t *testing.T) {
	tests := []struct {
		name, value string
		want        ESCredentials
		wantErr     string
	}{
		{name: "plain API key", value: "  VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw== \n", want: ESCredentials{APIKey: "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="}},
		{name: "JSON API key", value: `{"api_key":"abc=="}`, want: ESCredentials{APIKey: "abc=="}},
		{name: "JSON basic auth", value: `{"username":"elastic","password":"s3cr3t pass"}`, want: ESCredentials{Username: "elastic", Password: "s3cr3t pass"}},
		{name: "empty", value: "  ", wantErr: "empty"},
		{name: "plain with spaces", value: "not a key", wantErr: "without spaces"},
		{name: "both kinds", value: `{"api_key":"a","username":"u","password":"p"}`, wantErr: "not both"},
		{name: "user without password", value: `{"username":"u"}`, wantErr: "both be set"},
		{name: "unknown field", value: `{"apikey":"SECRETVALUE"}`, wantErr: "is not"},
		{name: "broken JSON", value: `{"api_key":"SECRETVALUE"`, wantErr: "is not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseESCredentials(tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "SECRETVALUE") {
					t.Fatalf("the error quotes the value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCredentialsNeverLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	for _, c := range []ESCredentials{{APIKey: "SECRETKEY"}, {Username: "elastic", Password: "SECRETPASS"}} {
		log.Info("credentials", "es", c)
		log.Info("credentials as text: " + c.String())
	}
	if out := buf.String(); strings.Contains(out, "SECRET") {
		t.Fatalf("a secret reached the log:\n%s", out)
	}
	if !strings.Contains(buf.String(), "basic auth for elastic") || !strings.Contains(buf.String(), "api key") {
		t.Fatalf("the log does not say which credential: %s", buf.String())
	}
}

func TestReadFromMoto(t *testing.T) {
	srv := mototest.Start(t)
	cfg := srv.AWSConfig(t, "eu-west-1")
	ctx := t.Context()
	ps, sm := ssm.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg)
	if _, err := ps.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/tagaudit/es"), Type: ssmtypes.ParameterTypeSecureString, Value: aws.String(`{"api_key":"abc=="}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/tagaudit/policy"), Type: ssmtypes.ParameterTypeString, Value: aws.String("tags: [a]\n")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("awsaudit/es"), SecretString: aws.String(`{"username":"elastic","password":"pw"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("awsaudit/binary"), SecretBinary: []byte("binkey")}); err != nil {
		t.Fatal(err)
	}

	t.Run("SecureString parameter", func(t *testing.T) {
		v, err := Parameter(ctx, ps, "/tagaudit/es")
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseESCredentials(v)
		if err != nil || c.APIKey != "abc==" {
			t.Fatalf("got %+v, %v", c, err)
		}
	})
	t.Run("String parameter", func(t *testing.T) {
		v, err := Parameter(ctx, ps, "/tagaudit/policy")
		if err != nil || v != "tags: [a]\n" {
			t.Fatalf("got %q, %v", v, err)
		}
	})
	t.Run("secret string", func(t *testing.T) {
		v, err := Secret(ctx, sm, "awsaudit/es")
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseESCredentials(v)
		if err != nil || c.Username != "elastic" || c.Password != "pw" {
			t.Fatalf("got %v, %v", c, err)
		}
	})
	t.Run("secret binary", func(t *testing.T) {
		v, err := Secret(ctx, sm, "awsaudit/binary")
		if err != nil || v != "binkey" {
			t.Fatalf("got %q, %v", v, err)
		}
	})
	t.Run("missing parameter", func(t *testing.T) {
		_, err := Parameter(ctx, ps, "/nope")
		if !awsapi.IsNotFound(err) || !strings.Contains(err.Error(), "/nope") {
			t.Fatalf("err = %v, want a not-found error naming the parameter", err)
		}
	})
	t.Run("missing secret", func(t *testing.T) {
		_, err := Secret(ctx, sm, "nope")
		if !awsapi.IsNotFound(err) || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("err = %v, want a not-found error naming the secret", err)
		}
	})
}
