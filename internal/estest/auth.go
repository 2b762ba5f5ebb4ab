package estest

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// wwwAuthenticate is the challenge list ES 8 sends with a 401.
var wwwAuthenticate = []string{`Basic realm="security", charset="UTF-8"`, `Bearer realm="security"`, "ApiKey"}

// authenticate checks the credentials when Options asks for any; nil means
// the request may proceed.
func (s *Server) authenticate(r *http.Request) *esError {
	if s.opts.APIKey == "" && s.opts.Username == "" {
		return nil
	}
	uri := r.URL.RequestURI()
	h := r.Header.Get("Authorization")
	if h == "" {
		return securityError("missing authentication credentials for REST request [%s]", uri)
	}
	scheme, cred, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "apikey":
		if s.opts.APIKey != "" && equal(cred, s.opts.APIKey) {
			return nil
		}
		return securityError("unable to authenticate with provided credentials and anonymous access is not allowed for this request")
	case "basic":
		user, pass, ok := r.BasicAuth()
		if ok && s.opts.Username != "" && equal(user, s.opts.Username) && equal(pass, s.opts.Password) {
			return nil
		}
		return securityError("unable to authenticate user [%s] for REST request [%s]", user, uri)
	}
	return securityError("unable to authenticate with provided credentials and anonymous access is not allowed for this request")
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func securityError(format string, args ...any) *esError {
	e := newError(http.StatusUnauthorized, "security_exception", format, args...)
	e.header = wwwAuthenticate
	return e
}
