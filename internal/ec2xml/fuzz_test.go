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
