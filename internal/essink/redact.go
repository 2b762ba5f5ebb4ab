package essink

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// minSecret is the shortest credential the redactor looks for: shorter strings would turn
// ordinary words of a message into REDACTED without protecting anything worth protecting.
const minSecret = 4

// redactor replaces credentials in text. It is the second line of defence: no message is meant
// to carry a credential in the first place.
type redactor struct {
	r *strings.Replacer
}

// newRedactor returns a redactor for the API key, the password, and the forms they take on the
// wire (the Authorization header's values, the decoded API key).
func newRedactor(apiKey, username, password string) redactor {
	var secrets []string
	add := func(s string) {
		if len(s) >= minSecret {
			secrets = append(secrets, s, "REDACTED")
		}
	}
	add(apiKey)
	if dec, err := base64.StdEncoding.DecodeString(apiKey); err == nil {
		add(string(dec))
		if _, key, ok := strings.Cut(string(dec), ":"); ok {
			add(key)
		}
	}
	if password != "" {
		add(password)
		add(base64.StdEncoding.EncodeToString([]byte(username + ":" + password)))
	}
	if len(secrets) == 0 {
		return redactor{}
	}
	return redactor{r: strings.NewReplacer(secrets...)}
}

// String returns s with every credential replaced.
func (r redactor) String(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// Err returns err, or, when its message holds a credential, an error with the credential
// replaced that still unwraps to err (so errors.Is and errors.As see through it).
func (r redactor) Err(err error) error {
	if err == nil || r.r == nil {
		return err
	}
	msg := err.Error()
	if clean := r.r.Replace(msg); clean != msg {
		return &redactedError{msg: clean, err: err}
	}
	return err
}

// Value returns v as a string with every credential replaced.
func (r redactor) Value(v any) string { return r.String(fmt.Sprint(v)) }

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
