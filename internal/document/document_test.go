package document

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func header() Header {
	return Header{
		Timestamp: At(t0), RunID: "sweep-123456789012-20261126T120000.000Z", Source: SourceSweep,
		Account: "example-prod", AccountID: "123456789012", TagScheme: "created_by,department,project", Action: "terminate",
	}
}

func violator() *Violator {
	return &Violator{
		Header: header(), ID: "i-0abc", Region: "us-west-2", AvailabilityZone: "us-west-2a", State: "running",
		Tags: []string{"Name=web", "created_by=bob", "department="}, Age: 125.5, LaunchTime: At(t0.Add(-125*time.Minute - 30*time.Second)),
		Verdict: "violator", MissingTags: []string{"project"}, InvalidTags: []string{"department="},
		Problems:              []string{"missing project", `department="": blank value`},
		Outcome:               Terminated,
		Note:                  "",
		DisableAPITermination: func() *bool { b := true; return &b }(),
		DisableAPIStop:        func() *bool { b := false; return &b }(),
	}
}

func rollup() *Rollup {
	r := NewRollup(header())
	r.InstanceCount = 12
	r.Verdicts["compliant"] = 9
	r.Verdicts["canary"] = 2
	r.Verdicts["violator"] = 1
	r.AddViolator(violator())
	r.RegionsVerified = []string{"us-east-1", "us-west-2"}
	r.RegionsUnverified = []string{"eu-west-1"}
	r.RegionErrors = []string{"eu-west-1: canary check in eu-west-1: the listing is empty, so it cannot be trusted"}
	r.DurationSeconds = 1.25
	return r
}

// golden compares v, encoded as the sinks encode it, with testdata/name.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	doc, err := New("idx", "id", OpIndex, v)
	if err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, doc.Body, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update once): %v", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("%s differs from the golden file:\n got: %s\nwant: %s", name, pretty.Bytes(), want)
	}
}

func eventHeader() Header {
	h := header()
	h.RunID, h.Source = "0b6f4a0e-1c2d-4e3f-8a9b-0c1d2e3f4a06", SourceEvent
	return h
}

// eventViolator is an event path document with every optional field a violator can carry: an
// Auto Scaling member (with the policy enforcing managed instances) whose termination failed.
func eventViolator() *Violator {
	f, no := false, false
	return &Violator{
		Header: eventHeader(), ID: "i-047be45c593a7157f", Region: "us-east-1", AvailabilityZone: "us-east-1d", State: "running",
		Tags: []string{"aws:autoscaling:groupName=web", "awsaudit:exempt=2026-11-01; load test", "created_by=mallory"}, Age: 47.25,
		LaunchTime: At(t0.Add(-47*time.Minute - 15*time.Second)),
		Verdict:    "violator", MissingTags: []string{"department", "project"}, InvalidTags: []string{"created_by=mallory"},
		Problems:        []string{"missing department", "missing project", `created_by="mallory": no IAM user of that name`},
		UnknownIAMUsers: []string{"mallory"},
		ManagedBy:       "autoscaling",
		ExemptionError:  `exemption "2026-11-01; load test" expired at 2026-11-01T00:00:00Z`,
		Creator:         "autoscaling.amazonaws.com", CreatorType: "AssumedRole", InvokedBy: "autoscaling.amazonaws.com",
		CreatorMatchesTag:     &f,
		Outcome:               Failed,
		Error:                 "terminating i-047be45c593a7157f: api error UnauthorizedOperation: You are not authorized to perform this operation.",
		Note:                  "termination protection restored",
		DisableAPITermination: &no,
		DisableAPIStop:        &no,
	}
}

// unknownViolator is an instance that could not be decided: its reason says why.
func unknownViolator() *Violator {
	return &Violator{
		Header: eventHeader(), ID: "i-0e000000000000002", Region: "us-east-1", State: "running",
		Tags: []string{"created_by=bob"}, Age: 47.25, LaunchTime: At(t0.Add(-47*time.Minute - 15*time.Second)),
		Verdict: VerdictUnknown, MissingTags: []string{}, InvalidTags: []string{},
		Reason:  "IAM could not say whether user bob exists: AccessDenied",
		Creator: "autoscaling.amazonaws.com", CreatorType: "AssumedRole", InvokedBy: "autoscaling.amazonaws.com",
		Outcome: Reported,
	}
}

// eventRollup is an event's rollup with its creator and errors: of its four instances, one is
// not found, one found terminated on a redelivery (a violator without an outcome), one failed
// and one unknown.
func eventRollup() *Rollup {
	r := NewRollup(eventHeader())
	r.InstanceCount = 4
	r.Verdicts["violator"] = 1
	r.Verdicts["unknown"] = 1
	r.AddViolator(eventViolator())
	r.AddViolator(unknownViolator())
	r.Verdicts["violator"]++
	r.ViolatorCount++
	r.RegionsVerified = []string{"us-east-1"}
	r.Errors = []string{
		"instance i-0e000000000000003 not found 5m0s after the event: not decided",
		"instance i-0e000000000000001 found terminated on a redelivery of the event: an earlier delivery may have acted on it, " +
			"so its outcome is not counted here (its violator document, written first, says what happened)",
	}
	r.Creator, r.InvokedBy = "autoscaling.amazonaws.com", "autoscaling.amazonaws.com"
	r.DurationSeconds = 2835.5
	return r
}

func TestViolatorGolden(t *testing.T)      { golden(t, "violator.golden.json", violator()) }
func TestRollupGolden(t *testing.T)        { golden(t, "rollup.golden.json", rollup()) }
func TestEventViolatorGolden(t *testing.T) { golden(t, "violator-event.golden.json", eventViolator()) }
func TestUnknownGolden(t *testing.T)       { golden(t, "violator-unknown.golden.json", unknownViolator()) }
func TestEventRollupGolden(t *testing.T)   { golden(t, "rollup-event.golden.json", eventRollup()) }

// TestGoldenFilesCoverEveryField: between them, the golden files show every field of both
// documents, so a field added without a golden file showing it fails here.
func TestGoldenFilesCoverEveryField(t *testing.T) {
	for _, tc := range []struct {
		typ   reflect.Type
		files []string
	}{
		{reflect.TypeOf(Violator{}), []string{"violator.golden.json", "violator-event.golden.json", "violator-unknown.golden.json"}},
		{reflect.TypeOf(Rollup{}), []string{"rollup.golden.json", "rollup-event.golden.json"}},
	} {
		seen := map[string]bool{}
		for _, name := range tc.files {
			b, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for k := range m {
				seen[k] = true
			}
		}
		for _, f := range jsonFields(tc.typ) {
			if !seen[f] {
				t.Errorf("no golden file of %s shows %s", tc.typ.Name(), f)
			}
		}
	}
}

// jsonFields lists the top-level JSON field names of a struct type, embedded structs included.
func jsonFields(typ reflect.Type) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Anonymous {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		out = append(out, name)
	}
	return out
}

// The original's fields keep their names and types.
func TestOriginalFieldsKept(t *testing.T) {
	var m map[string]any
	doc, _ := New("i", "d", OpIndex, rollup())
	if err := json.Unmarshal(doc.Body, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"@timestamp", "account", "tag_scheme", "violator_count", "violators"} {
		if _, ok := m[k]; !ok {
			t.Errorf("rollup lacks the original's field %q", k)
		}
	}
	v := m["violators"].([]any)[0].(map[string]any)
	if _, ok := v["age"].(float64); !ok {
		t.Errorf("violators[].age = %T, want a number of minutes", v["age"])
	}
	if tags, ok := v["tags"].([]any); !ok || tags[1] != "created_by=bob" {
		t.Errorf("violators[].tags = %v, want key=value strings", v["tags"])
	}
	if m["@timestamp"] != "2026-11-26T12:00:00.000Z" {
		t.Errorf("@timestamp = %v", m["@timestamp"])
	}
}

func TestRollupCapsViolators(t *testing.T) {
	r := NewRollup(header())
	for i := range MaxRollupViolators + 7 {
		v := violator()
		v.ID = fmt.Sprintf("i-%d", i)
		r.AddViolator(v)
	}
	u := violator()
	u.Verdict = VerdictUnknown
	u.Outcome = Reported
	r.AddViolator(u)
	if len(r.Violators) != MaxRollupViolators || r.ViolatorsOmitted != 7 || r.ViolatorCount != MaxRollupViolators+7 {
		t.Fatalf("violators %d, omitted %d, count %d", len(r.Violators), r.ViolatorsOmitted, r.ViolatorCount)
	}
	if r.Outcomes["terminated"] != MaxRollupViolators+7 || r.Outcomes["reported"] != 1 {
		t.Fatalf("outcomes = %v", r.Outcomes)
	}
}

func TestBulkLines(t *testing.T) {
	d, err := New(DefaultViolatorIndex, ViolatorID("run-1", "i-0abc"), OpIndex, map[string]int{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	got := string(AppendBulk(nil, d))
	want := `{"index":{"_index":"aws-tag-violator","_id":"run-1:i-0abc"}}` + "\n" + `{"a":1}` + "\n"
	if got != want {
		t.Fatalf("AppendBulk = %q, want %q", got, want)
	}
	d.Op = OpCreate
	d.Body = json.RawMessage("{\n  \"a\": 1\n}")
	if got := string(AppendBulk(nil, d)); !strings.HasPrefix(got, `{"create":`) || !strings.HasSuffix(got, "\n{\"a\":1}\n") {
		t.Fatalf("AppendBulk with a multi-line body = %q", got)
	}
}

func TestReadBulkRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	s := NewNDJSON(&buf)
	var docs []Document
	for i, v := range []any{violator(), rollup()} {
		d, err := New(DefaultAuditIndex, fmt.Sprint("id-", i), []Op{OpIndex, OpCreate}[i], v)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	if err := s.Write(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	got, err := ReadBulk(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, docs) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, docs)
	}
}

func TestReadBulkErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"index":{"_index":"a","_id":"1"}}`, "no document"},
		{"{\"index\":{\"_index\":\"a\",\"_id\":\"1\"}}\nnot json\n", "line 2: document is not a JSON object"},
		{"{\"delete\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{}\n", `action "delete"`},
		{"{\"index\":{\"_index\":\"a\"}}\n{}\n", "without _index or _id"},
		{"[1]\n", "line 1: not a _bulk action line"},
	} {
		if _, err := ReadBulk(strings.NewReader(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadBulk(%q) error = %v, want %q", tc.in, err, tc.want)
		}
	}
}

// mappedFields checks that every JSON field of type typ has a mapping in props, recursively.
func mappedFields(t *testing.T, typ reflect.Type, props map[string]any, path string) {
	t.Helper()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Anonymous {
			mappedFields(t, f.Type, props, path)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		m, ok := props[name].(map[string]any)
		if !ok {
			t.Errorf("field %s%s has no mapping", path, name)
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Slice || ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(Time{}) {
			sub, _ := m["properties"].(map[string]any)
			mappedFields(t, ft, sub, path+name+".")
		}
	}
}

func TestMappingsCoverEveryField(t *testing.T) {
	mappedFields(t, reflect.TypeOf(Violator{}), ViolatorMapping()["properties"].(map[string]any), "")
	mappedFields(t, reflect.TypeOf(Rollup{}), RollupMapping()["properties"].(map[string]any), "")
	for _, m := range []map[string]any{ViolatorMapping(), RollupMapping()} {
		if m["dynamic"] != "strict" {
			t.Errorf("mapping is not dynamic strict")
		}
	}
	counts := RollupMapping()["properties"].(map[string]any)["outcomes"].(map[string]any)["properties"].(map[string]any)
	for _, o := range Outcomes {
		if _, ok := counts[string(o)]; !ok {
			t.Errorf("outcomes mapping lacks %s", o)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestUnwrittenFindsEveryWriteError(t *testing.T) {
	d1, _ := New("a", "1", OpIndex, map[string]int{})
	d2, _ := New("a", "2", OpIndex, map[string]int{})
	err := Multi{NewNDJSON(failingWriter{}), Discard{}}.Write(context.Background(), []Document{d1, d2})
	docs := Unwritten(fmt.Errorf("writing: %w", err), []Document{d1, d2})
	if len(docs) != 2 || docs[1].ID != "2" {
		t.Fatalf("Unwritten = %v", docs)
	}
	// Two sinks failing the same document list it once.
	both := errors.Join(err, Multi{NewNDJSON(failingWriter{})}.Write(context.Background(), []Document{d2}))
	if docs := Unwritten(both, []Document{d1, d2}); len(docs) != 2 {
		t.Fatalf("Unwritten of two failures = %v", docs)
	}
	if !strings.Contains(err.Error(), "2 document(s) not written: disk full") {
		t.Fatalf("error = %v", err)
	}
	if docs := Unwritten(errors.New("other"), []Document{d1}); len(docs) != 1 {
		t.Fatal("an error that does not say which were written must count all as unwritten")
	}
}

func TestWriteSpool(t *testing.T) {
	d, _ := New("a", "run:1", OpCreate, map[string]int{"x": 1})
	path, err := WriteSpool(filepath.Join(t.TempDir(), "spool"), "sweep-1/x:y", []Document{d})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(filepath.Base(path), "awsaudit-spool-sweep-1_x_y") {
		t.Errorf("spool name = %s", path)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ReadBulk(f)
	if err != nil || len(got) != 1 || got[0].Op != OpCreate || got[0].ID != "run:1" {
		t.Fatalf("spool holds %+v, %v", got, err)
	}
}

func TestTimeEncoding(t *testing.T) {
	b, _ := json.Marshal(struct {
		A Time `json:"a"`
		B Time `json:"b"`
	}{A: At(time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.FixedZone("x", 3600)))})
	if string(b) != `{"a":"2026-01-02T02:04:05.006Z","b":null}` {
		t.Fatalf("encoded %s", b)
	}
	var back Time
	if err := json.Unmarshal([]byte(`"2026-01-02T02:04:05.006Z"`), &back); err != nil || !back.Equal(time.Date(2026, 1, 2, 2, 4, 5, 6e6, time.UTC)) {
		t.Fatalf("decoded %v, %v", back, err)
	}
}
