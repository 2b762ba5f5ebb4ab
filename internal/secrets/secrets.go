// Package secrets reads values by name from SSM Parameter Store or Secrets Manager (the Lambdas'
// policy and Elasticsearch credentials never sit in plain environment variables) and parses
// Elasticsearch credentials. Values are never logged: errors name the parameter or secret, and
// ESCredentials logs only which kind of credential it holds.
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// ParameterAPI is the SSM call that reads a parameter.
type ParameterAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// SecretAPI is the Secrets Manager call that reads a secret.
type SecretAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Parameter reads an SSM parameter by name (or ARN), decrypting a SecureString.
func Parameter(ctx context.Context, api ParameterAPI, name string) (string, error) {
	out, err := api.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return "", fmt.Errorf("reading SSM parameter %s: %w", name, err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return "", fmt.Errorf("reading SSM parameter %s: it has no value", name)
	}
	return *out.Parameter.Value, nil
}

// Secret reads a Secrets Manager secret's current value by name or ARN: its string, or its
// binary value as text.
func Secret(ctx context.Context, api SecretAPI, id string) (string, error) {
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return "", fmt.Errorf("reading secret %s: %w", id, err)
	}
	switch {
	case out.SecretString != nil:
		return *out.SecretString, nil
	case out.SecretBinary != nil:
		return string(out.SecretBinary), nil
	}
	return "", fmt.Errorf("reading secret %s: it has no value", id)
}

// ESCredentials are Elasticsearch credentials: an API key, or a user name and password.
type ESCredentials struct {
	// APIKey is the encoded API key (base64 of id:key), as Elasticsearch's Authorization:
	// ApiKey header takes it.
	APIKey             string
	Username, Password string
}

// String says which kind of credential is held, never its value.
func (c ESCredentials) String() string {
	switch {
	case c.APIKey != "":
		return "api key"
	case c.Username != "":
		return "basic auth for " + c.Username
	}
	return "none"
}

// LogValue logs which kind of credential is held, never its value.
func (c ESCredentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// ParseESCredentials reads credentials as they are stored: a plain string is an API key; a JSON
// object is {"api_key": "…"} or {"username": "…", "password": "…"}. Errors never quote the value.
func ParseESCredentials(value string) (ESCredentials, error) {
	v := strings.TrimSpace(value)
	if v == "" {
		return ESCredentials{}, errors.New("Elasticsearch credentials: the value is empty")
	}
	if !strings.HasPrefix(v, "{") {
		if strings.ContainsAny(v, " \t\r\n") {
			return ESCredentials{}, errors.New("Elasticsearch credentials: a plain value must be an API key, without spaces")
		}
		return ESCredentials{APIKey: v}, nil
	}
	var f struct {
		APIKey   *string `json:"api_key"`
		Username *string `json:"username"`
		Password *string `json:"password"`
	}
	d := json.NewDecoder(strings.NewReader(v))
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil {
		// The decoder's message could quote the value; say only what is wrong in general.
		return ESCredentials{}, errors.New(`Elasticsearch credentials: the JSON value is not {"api_key": "…"} or {"username": "…", "password": "…"}`)
	}
	c := ESCredentials{APIKey: strings.TrimSpace(aws.ToString(f.APIKey)), Username: aws.ToString(f.Username), Password: aws.ToString(f.Password)}
	switch {
	case c.APIKey != "" && (c.Username != "" || c.Password != ""):
		return ESCredentials{}, errors.New("Elasticsearch credentials: give an api_key or a username and password, not both")
	case c.APIKey != "":
		return c, nil
	case c.Username == "" || c.Password == "":
		return ESCredentials{}, errors.New("Elasticsearch credentials: username and password must both be set (or give api_key)")
	}
	return c, nil
}
