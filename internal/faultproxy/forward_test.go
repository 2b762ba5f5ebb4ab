package faultproxy_test

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/awsaudit/awsaudit/internal/faultproxy"
)

// received is what a backend saw of one request.
type received struct {
	method, host, uri string
	header            http.Header
	body              []byte
}

func TestForwardsUnchanged(t *testing.T) {
	got := make(chan received, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- received{r.Method, r.Host, r.RequestURI, r.Header.Clone(), body}
		w.Header().Set("X-Amzn-Requestid", "abc")
		w.Header().Add("X-Multi", "1")
		w.Header().Add("X-Multi", "2")
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "answer body")
	}))
	defer backend.Close()
	p := faultproxy.Start(t, backend.URL)

	body := []byte("Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3AName&Filter.1.Value.1=a+b%2Fc")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, p.URL+"/some/path%2Fescaped?b=2&a=1&a=0", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "ec2.us-west-2.amazonaws.com"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261126/us-west-2/ec2/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=deadbeef")
	req.Header.Set("X-Amz-Date", "20261126T120000Z")
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	req.Header.Set("X-Forwarded-For", "10.0.0.1")
	req.Header.Set("User-Agent", "aws-sdk-go-v2/1.48.0")
	req.Header["X-Repeated"] = []string{"one", "two"}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)

	r := <-got
	if r.method != http.MethodPost || r.host != req.Host || r.uri != "/some/path%2Fescaped?b=2&a=1&a=0" {
		t.Errorf("backend saw %s %s host %s", r.method, r.uri, r.host)
	}
	if !bytes.Equal(r.body, body) {
		t.Errorf("backend body = %q, want %q", r.body, body)
	}
	for k, v := range req.Header {
		if !slices.Equal(r.header[k], v) {
			t.Errorf("backend header %s = %q, want %q", k, r.header[k], v)
		}
	}
	if resp.StatusCode != http.StatusTeapot || string(answer) != "answer body" {
		t.Errorf("client got %d %q", resp.StatusCode, answer)
	}
	if !slices.Equal(resp.Header["X-Multi"], []string{"1", "2"}) || resp.Header.Get("X-Amzn-Requestid") != "abc" {
		t.Errorf("client answer headers = %v", resp.Header)
	}
	want := faultproxy.Call{Service: "ec2", Operation: "DescribeInstances", Region: "us-west-2"}
	if n := p.Calls()[want]; n != 1 {
		t.Errorf("Calls()[%v] = %d, want 1", want, n)
	}
}

func TestStreamsResponses(t *testing.T) {
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		http.NewResponseController(w).Flush()
		<-release
		io.WriteString(w, "second\n")
	}))
	defer backend.Close()
	defer close(release)
	p := faultproxy.Start(t, backend.URL)

	resp, err := http.Get(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The backend holds "second" back until release: reading "first" now
	// only works if the proxy passes bytes on as they come.
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "first\n" {
		t.Errorf("first line = %q, %v", line, err)
	}
}
