package ec2xml_test

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode holds Decode to its promise: whenever it takes an answer, the SDK takes it too and
// reads the same (checkBoth). Its seeds are the decode cases and testdata's recorded pages, which
// plain go test runs too; go test -fuzz=FuzzDecode ./internal/ec2xml explores from them.
func FuzzDecode(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c.body))
	}
	pages, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkBoth(t, body)
	})
}

// FuzzDecodeFields builds pages around fuzzed field contents — a tag's key and value, the state,
// the interface's indices and attachment time, the launch time, and raw XML among the instance's
// elements — so the fuzzer spends its time on answers Decode takes, where checkBoth has teeth.
func FuzzDecodeFields(f *testing.F) {
	f.Add("created_by", "alice", "running", "0", "0", "2026-03-04T05:06:07.000Z", "2026-03-04T05:06:07Z", "")
	f.Add("a&amp;b", "&lt;&#233;&#x1F600;", "stopped", "+1", "00", "2026-03-04T05:06:07+02:00", "2026-03-04T05:06:07.5Z", "<Tagset><item><key>k</key></item></Tagset>")
	f.Add("", "   ", "", "4294967296", "-1", "2026-03-04T05:06:07.123456789Z", "2026-03-04 05:06:07", "<unknown><item><instanceId>i-2</instanceId></item></unknown>")
	f.Add("k", "", "pending", "1", "1", "2026-03-04T05:06:07Z", "", "<instanceState><name>x</name></instanceState><!-- c -->")
	f.Fuzz(func(t *testing.T, key, value, state, device, card, attached, launched, extra string) {
		body := page(reservation(replace(
			instance("i-1", state, tag(key, value)+tag("project", value), eni(device, card, attached)+stdENI),
			"<launchTime>2026-03-04T05:06:07.000Z</launchTime>", "<launchTime>"+launched+"</launchTime>"+extra)))
		checkBoth(t, []byte(body))
	})
}
