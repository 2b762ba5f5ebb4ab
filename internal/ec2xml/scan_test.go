package ec2xml

import (
	"context"
	"math/rand/v2"
	"testing"
	"unicode/utf8"

	"github.com/aws/smithy-go/middleware"
)

// naiveChars is checkChars one character at a time.
func naiveChars(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 || r == '\r' || !isXMLChar(r) || r >= 0xD800 && r <= 0xDFFF {
			return false
		}
		b = b[n:]
	}
	return true
}

// TestCheckChars compares checkChars, which reads eight bytes at a time where it can, with a
// character-by-character check, on every byte value in every position of a word and on random
// text.
func TestCheckChars(t *testing.T) {
	for c := range 256 {
		for pos := range 17 {
			b := []byte("abcdefgh<tag>ijklmnop")
			b[pos] = byte(c)
			if got, want := checkChars(b) == nil, naiveChars(b); got != want {
				t.Errorf("byte %#02x at %d: accepted %t, want %t", c, pos, got, want)
			}
		}
	}
	alphabet := []string{"a", " ", "\n", "\t", "\r", "\x00", "\x1f", "\x7f", "é", "😀", "\uFFFD", "\uFFFE", "\uFFFF", "\xff", "\xed\xa0\x80", "<", "&"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b []byte
		for range rng.IntN(40) {
			s := alphabet[rng.IntN(len(alphabet))]
			if rng.IntN(4) > 0 {
				s = "a"
			}
			b = append(b, s...)
		}
		if got, want := checkChars(b) == nil, naiveChars(b); got != want {
			t.Fatalf("%q: accepted %t, want %t", b, got, want)
		}
	}
}

// TestMemberNamesFit checks that every member name fits the lower-casing buffer, so no member
// can be taken for an unknown element.
func TestMemberNamesFit(t *testing.T) {
	for _, s := range shapes {
		for name := range s.members {
			if len(name) > maxName {
				t.Errorf("%s.%s is longer than %d", s.name, name, maxName)
			}
		}
	}
}

type sdkDeserializer struct{}

func (sdkDeserializer) ID() string { return deserializerID }
func (sdkDeserializer) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	return next.HandleDeserialize(ctx, in)
}

// TestInstall checks that install swaps DescribeInstances' deserializer once, keeping the SDK's
// behind it, and leaves other operations alone.
func TestInstall(t *testing.T) {
	st := middleware.NewStack("DescribeInstances", nil)
	if err := st.Deserialize.Add(sdkDeserializer{}, middleware.After); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := install(st, New(nil)); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := st.Deserialize.Get(deserializerID)
	d, ok := m.(*deserializer)
	if !ok || d.sdk != (sdkDeserializer{}) || len(st.Deserialize.List()) != 1 {
		t.Fatalf("deserializers %v, want ours in front of the SDK's", st.Deserialize.List())
	}

	other := middleware.NewStack("DescribeRegions", nil)
	if err := other.Deserialize.Add(sdkDeserializer{}, middleware.After); err != nil {
		t.Fatal(err)
	}
	if err := install(other, New(nil)); err != nil {
		t.Fatal(err)
	}
	if m, _ := other.Deserialize.Get(deserializerID); m != (sdkDeserializer{}) {
		t.Errorf("DescribeRegions' deserializer is %T", m)
	}
	if err := install(middleware.NewStack("DescribeInstances", nil), New(nil)); err == nil {
		t.Error("install on a stack without a deserializer succeeded")
	}
}
