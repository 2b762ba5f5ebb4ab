// Package endpoint is the at-scale benchmark's AWS: an HTTP server on a loopback port that answers
// EC2 DescribeInstances from pages rendered once in memory (realistic instances: EC2's fields and
// indentation, a network interface with its attachment time, 5 to 10 tags each, a canary per
// region), with MaxResults and NextToken pagination as EC2 does it, and EC2 DescribeRegions, STS
// GetCallerIdentity and IAM ListAccountAliases minimally. Point the SDK at it with
// AWS_ENDPOINT_URL; the region is read from the request's SigV4 credential scope. XML decoding,
// decisions and documents cost what they cost; AWS latency does not exist here.
package endpoint

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/awsaudit/awsaudit/bench/fleet"
)

// MaxPage is the most instances a DescribeInstances page holds (EC2's MaxResults limit); it is
// also the page size when the request gives none.
const MaxPage = 1000

// NotOptedIn are regions DescribeRegions lists as not opted in, as EC2 does, so discovery must
// filter them out.
var NotOptedIn = []string{"af-south-1", "me-south-1"}

// Server serves one fleet.
type Server struct {
	// URL is the endpoint's base URL, for AWS_ENDPOINT_URL.
	URL string

	regions map[string]*region
	names   []string
	srv     *http.Server
	ln      net.Listener

	mu    sync.Mutex
	calls map[string]int // "Service.Operation@region"
	bytes atomic.Int64
	reqs  atomic.Int64
}

// Start renders the fleet and starts serving it on a free loopback port.
func Start(f fleet.Fleet) (*Server, error) {
	s := &Server{regions: map[string]*region{}, calls: map[string]int{}}
	// Regions render in parallel: 100,000 instances take a few seconds on one core.
	var wg sync.WaitGroup
	var mu sync.Mutex
	sem := make(chan struct{}, 4)
	for _, r := range f.Regions {
		s.names = append(s.names, r.Name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rr := render(f, r)
			mu.Lock()
			s.regions[r.Name] = rr
			mu.Unlock()
		}()
	}
	wg.Wait()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the bench endpoint: %w", err)
	}
	s.ln = ln
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// RenderedBytes is the size of every rendered instance.
func (s *Server) RenderedBytes() int {
	n := 0
	for _, r := range s.regions {
		n += len(r.items)
	}
	return n
}

// Calls returns the requests answered, by "Service.Operation" summed over regions.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, n := range s.calls {
		op, _, _ := strings.Cut(k, "@")
		out[op] += n
	}
	return out
}

// ResetCalls forgets the calls counted so far.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	s.calls = map[string]int{}
	s.mu.Unlock()
	s.bytes.Store(0)
	s.reqs.Store(0)
}

// BytesServed is the size of the response bodies served since the last ResetCalls.
func (s *Server) BytesServed() int64 { return s.bytes.Load() }

var scope = regexp.MustCompile(`Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request`)

// ServeHTTP answers one AWS query-protocol request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := scope.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		s.fail(w, "", "IncompleteSignature", "bench endpoint: request not signed with SigV4")
		return
	}
	region, service := m[1], m[2]
	if err := r.ParseForm(); err != nil {
		s.fail(w, service, "MalformedQueryString", err.Error())
		return
	}
	action := r.PostForm.Get("Action")
	switch service + "." + action {
	case "ec2.DescribeInstances":
		s.count("EC2.DescribeInstances", region)
		s.describeInstances(w, region, r.PostForm)
	case "ec2.DescribeRegions":
		s.count("EC2.DescribeRegions", region)
		s.describeRegions(w)
	case "sts.GetCallerIdentity":
		s.count("STS.GetCallerIdentity", region)
		s.write(w, []byte(`<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:iam::`+fleet.AccountID+`:user/bench</Arn>
    <UserId>AIDABENCHBENCHBENCH01</UserId>
    <Account>`+fleet.AccountID+`</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata>
    <RequestId>bench-sts</RequestId>
  </ResponseMetadata>
</GetCallerIdentityResponse>
`))
	case "iam.ListAccountAliases":
		s.count("IAM.ListAccountAliases", region)
		s.write(w, []byte(`<ListAccountAliasesResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <ListAccountAliasesResult>
    <IsTruncated>false</IsTruncated>
    <AccountAliases>
      <member>`+fleet.Alias+`</member>
    </AccountAliases>
  </ListAccountAliasesResult>
  <ResponseMetadata>
    <RequestId>bench-iam</RequestId>
  </ResponseMetadata>
</ListAccountAliasesResponse>
`))
	default:
		s.count(service+"."+action, region)
		s.fail(w, service, "UnsupportedOperation", "bench endpoint: "+service+" "+action+" is not served")
	}
}

func (s *Server) count(op, region string) {
	s.mu.Lock()
	s.calls[op+"@"+region]++
	s.mu.Unlock()
	s.reqs.Add(1)
}

func (s *Server) write(w http.ResponseWriter, parts ...[]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(n))
	for _, p := range parts {
		w.Write(p)
	}
	s.bytes.Add(int64(n))
}

// fail answers an error in the shape the service's protocol uses.
func (s *Server) fail(w http.ResponseWriter, service, code, msg string) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(http.StatusBadRequest)
	if service == "ec2" {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>bench</RequestID></Response>`, code, escape(msg))
		return
	}
	fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>bench</RequestId></ErrorResponse>`, code, escape(msg))
}

func escape(s string) string { return string(appendEscaped(nil, s)) }

// describeInstances serves one page. The only filter understood is instance-state-name, and only
// when it keeps every state the fleet holds (the sweep's filter does); anything else is refused
// rather than answered wrongly.
func (s *Server) describeInstances(w http.ResponseWriter, regionName string, form url.Values) {
	r, ok := s.regions[regionName]
	if !ok {
		// A region without instances answers an empty listing, as EC2 does.
		r = &region{name: regionName, starts: []int{0}}
	}
	if err := checkFilters(form, r); err != nil {
		s.fail(w, "ec2", "InvalidParameterValue", err.Error())
		return
	}
	size := MaxPage
	if v := form.Get("MaxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 5 || n > MaxPage {
			s.fail(w, "ec2", "InvalidParameterValue", "MaxResults must be from 5 to 1000")
			return
		}
		size = n
	}
	from := 0
	if t := form.Get("NextToken"); t != "" {
		n, err := parseToken(regionName, t)
		if err != nil || n > r.instances() {
			s.fail(w, "ec2", "InvalidParameterValue", "invalid NextToken")
			return
		}
		from = n
	}
	to := min(from+size, r.instances())
	token := ""
	if to < r.instances() {
		token = makeToken(regionName, to)
	}
	s.write(w, pageHead(fmt.Sprintf("bench-%s-%d", regionName, from)), r.page(from, to), pageTail(token))
}

func checkFilters(form url.Values, r *region) error {
	for i := 1; ; i++ {
		name := form.Get(fmt.Sprintf("Filter.%d.Name", i))
		if name == "" {
			return nil
		}
		if name != "instance-state-name" {
			return fmt.Errorf("bench endpoint: filter %s is not served", name)
		}
		var values []string
		for j := 1; ; j++ {
			v := form.Get(fmt.Sprintf("Filter.%d.Value.%d", i, j))
			if v == "" {
				break
			}
			values = append(values, v)
		}
		for st := range r.states {
			if !slices.Contains(values, st) {
				return fmt.Errorf("bench endpoint: the state filter %v leaves out %s instances, which is not served", values, st)
			}
		}
	}
}

// Tokens are opaque to the client; they name the region so one region's token cannot page another.
func makeToken(region string, offset int) string {
	return fmt.Sprintf("eyJ%s.%08d.bench", region, offset)
}

func parseToken(region, t string) (int, error) {
	rest, ok := strings.CutPrefix(t, "eyJ"+region+".")
	if !ok {
		return 0, errors.New("token of another region")
	}
	n, ok := strings.CutSuffix(rest, ".bench")
	if !ok {
		return 0, errors.New("malformed token")
	}
	return strconv.Atoi(n)
}

// describeRegions lists the fleet's regions as needing no opt-in, and two regions not opted in
// (discovery must leave those out).
func (s *Server) describeRegions(w http.ResponseWriter) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>bench-regions</requestId>
    <regionInfo>`)
	item := func(name, status string) {
		fmt.Fprintf(&b, `
        <item>
            <regionName>%s</regionName>
            <regionEndpoint>ec2.%s.amazonaws.com</regionEndpoint>
            <optInStatus>%s</optInStatus>
        </item>`, name, name, status)
	}
	for _, n := range s.names {
		item(n, "opt-in-not-required")
	}
	for _, n := range NotOptedIn {
		item(n, "not-opted-in")
	}
	b.WriteString(`
    </regionInfo>
</DescribeRegionsResponse>
`)
	s.write(w, []byte(b.String()))
}
