package ec2xml

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// SyntaxError says where and why Decode gave up on a body. It does not mean the body is wrong:
// only that it is outside what Decode reads, so the SDK's deserializer must read it.
type SyntaxError struct {
	Offset int
	Reason string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("ec2xml: %s at byte %d", e.Reason, e.Offset)
}

// maxDepth bounds element nesting; EC2's answers nest about 10 deep.
const maxDepth = 64

// maxName is the longest element name that can be a member the SDK knows; longer names are
// unknown ones.
const maxName = 64

// scanner reads the XML subset EC2 answers in, from one buffer. Every method fails on what it
// does not know rather than guess: see the package documentation for the subset.
type scanner struct {
	b     []byte
	p     int
	depth int
	low   [maxName]byte
	text  []byte   // decoded text with entities, reused
	stack [][]byte // names of elements being skipped, reused
}

func (s *scanner) fail(reason string) error { return &SyntaxError{Offset: s.p, Reason: reason} }

// checkChars refuses the body if any of it would fail encoding/xml's character checks, or
// holds a carriage return (encoding/xml rewrites \r\n in text to \n; Decode does not). Only
// tab and newline are allowed below space; beyond ASCII, valid UTF-8 of XML characters.
func checkChars(b []byte) error {
	for i := 0; i < len(b); {
		// Eight bytes at a time while they are ASCII at or above space (most of a page).
		if i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			if w&highBits == 0 && (w-spaces)&^w&highBits == 0 {
				i += 8
				continue
			}
		}
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' {
				return &SyntaxError{Offset: i, Reason: fmt.Sprintf("control character %#02x", c)}
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return &SyntaxError{Offset: i, Reason: "invalid UTF-8"}
		}
		if r == 0xFFFE || r == 0xFFFF {
			return &SyntaxError{Offset: i, Reason: fmt.Sprintf("character %U outside XML", r)}
		}
		i += n
	}
	return nil
}

// Eight-byte words: a word of spaces, and the high bit of each byte.
const (
	spaces   = 0x2020202020202020
	highBits = 0x8080808080808080
)

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' }

func isNameStart(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' }

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
}

// space skips whitespace and reports whether there was any.
func (s *scanner) space() bool {
	start := s.p
	for s.p < len(s.b) && isSpace(s.b[s.p]) {
		s.p++
		// Indentation: eight spaces at a time.
		for s.p+8 <= len(s.b) && binary.LittleEndian.Uint64(s.b[s.p:]) == spaces {
			s.p += 8
		}
	}
	return s.p > start
}

// misc skips whitespace and comments.
func (s *scanner) misc() error {
	for {
		s.space()
		if !bytes.HasPrefix(s.b[s.p:], []byte("<!--")) {
			return nil
		}
		if err := s.comment(); err != nil {
			return err
		}
	}
}

// comment skips a comment at s.p. As in encoding/xml, "--" must end it.
func (s *scanner) comment() error {
	if !bytes.HasPrefix(s.b[s.p:], []byte("<!--")) {
		return s.fail("markup other than a comment")
	}
	i := bytes.Index(s.b[s.p+4:], []byte("--"))
	if i < 0 {
		return s.fail("unterminated comment")
	}
	end := s.p + 4 + i + 2
	if end >= len(s.b) || s.b[end] != '>' {
		return s.fail(`"--" inside a comment`)
	}
	s.p = end + 1
	return nil
}

// name reads an element name: ASCII letters, digits, '_', '-' and '.', not starting with a
// digit, '-' or '.', and no namespace prefix.
func (s *scanner) name() ([]byte, error) {
	start := s.p
	if s.p >= len(s.b) || !isNameStart(s.b[s.p]) {
		return nil, s.fail("expected a name")
	}
	for s.p < len(s.b) && isNameByte(s.b[s.p]) {
		s.p++
	}
	return s.b[start:s.p], nil
}

// startTag reads the start tag at s.p ('<' followed by a name start) and reports whether it
// is self-closing. Attributes are read and dropped (the SDK reads none).
func (s *scanner) startTag() (name []byte, empty bool, err error) {
	s.p++ // '<'
	if name, err = s.name(); err != nil {
		return nil, false, err
	}
	for {
		spaced := s.space()
		if s.p >= len(s.b) {
			return nil, false, s.fail("unterminated start tag")
		}
		switch s.b[s.p] {
		case '>':
			s.p++
			return name, false, nil
		case '/':
			if s.p+1 < len(s.b) && s.b[s.p+1] == '>' {
				s.p += 2
				return name, true, nil
			}
			return nil, false, s.fail("'/' in a start tag")
		}
		if !spaced {
			return nil, false, s.fail("expected space, '>' or '/>' in a start tag")
		}
		if err := s.attribute(); err != nil {
			return nil, false, err
		}
	}
}

// attribute reads name="value" or name='value'. The value may hold no '<' (encoding/xml
// refuses it) and no '&' (entities in attributes are not read here).
func (s *scanner) attribute() error {
	if _, err := s.name(); err != nil {
		return err
	}
	if s.p < len(s.b) && s.b[s.p] == ':' {
		s.p++
		if _, err := s.name(); err != nil {
			return err
		}
	}
	s.space()
	if s.p >= len(s.b) || s.b[s.p] != '=' {
		return s.fail("attribute without '='")
	}
	s.p++
	s.space()
	if s.p >= len(s.b) || (s.b[s.p] != '"' && s.b[s.p] != '\'') {
		return s.fail("unquoted attribute value")
	}
	q := s.b[s.p]
	s.p++
	i := bytes.IndexByte(s.b[s.p:], q)
	if i < 0 {
		return s.fail("unterminated attribute value")
	}
	if bytes.ContainsAny(s.b[s.p:s.p+i], "<&") {
		return s.fail("'<' or '&' in an attribute value")
	}
	s.p += i + 1
	return nil
}

// endTag reads </name> with optional space before '>'.
func (s *scanner) endTag(name []byte) error {
	if !bytes.HasPrefix(s.b[s.p:], []byte("</")) || !bytes.HasPrefix(s.b[s.p+2:], name) {
		return s.fail("expected </" + string(name) + ">")
	}
	s.p += 2 + len(name)
	s.space()
	if s.p >= len(s.b) || s.b[s.p] != '>' {
		return s.fail("expected </" + string(name) + ">")
	}
	s.p++
	return nil
}

// child moves to the next child element of parent: it skips whitespace and comments, and
// consumes parent's end tag (done). Text other than whitespace, CDATA, processing
// instructions and declarations fail.
func (s *scanner) child(parent []byte) (name []byte, empty, done bool, err error) {
	for {
		s.space()
		if s.p+1 >= len(s.b) {
			return nil, false, false, s.fail("unexpected end in <" + string(parent) + ">")
		}
		if s.b[s.p] != '<' {
			return nil, false, false, s.fail("text among elements")
		}
		switch c := s.b[s.p+1]; {
		case c == '/':
			return nil, false, true, s.endTag(parent)
		case c == '!':
			if err := s.comment(); err != nil {
				return nil, false, false, err
			}
		case isNameStart(c):
			name, empty, err = s.startTag()
			return name, empty, false, err
		default:
			return nil, false, false, s.fail("markup other than an element or comment")
		}
	}
}

// enter and leave bound the nesting.
func (s *scanner) enter() error {
	s.depth++
	if s.depth > maxDepth {
		return s.fail("elements nested too deep")
	}
	return nil
}

func (s *scanner) leave() { s.depth-- }

// value reads the text of a simple element, as the SDK's NodeDecoder.Value does: the element's
// text up to its end tag, entities decoded, or empty for <name/> and <name></name>. A child
// element, comment or CDATA section in it fails. The result is only valid until the next call.
func (s *scanner) value(name []byte, empty bool) ([]byte, error) {
	if empty {
		return s.text[:0], nil
	}
	i := bytes.IndexByte(s.b[s.p:], '<')
	if i < 0 {
		return nil, s.fail("unterminated <" + string(name) + ">")
	}
	raw := s.b[s.p : s.p+i]
	text, err := s.decodeText(raw)
	if err != nil {
		return nil, err
	}
	s.p += i
	if err := s.endTag(name); err != nil {
		return nil, err
	}
	return text, nil
}

// decodeText returns raw with its entity and character references replaced; raw itself when
// it holds none.
func (s *scanner) decodeText(raw []byte) ([]byte, error) {
	if bytes.IndexByte(raw, ']') >= 0 && bytes.Contains(raw, []byte("]]>")) {
		return nil, s.fail(`"]]>" in text`)
	}
	amp := bytes.IndexByte(raw, '&')
	if amp < 0 {
		return raw, nil
	}
	out := append(s.text[:0], raw[:amp]...)
	for i := amp; i < len(raw); {
		if raw[i] != '&' {
			j := bytes.IndexByte(raw[i:], '&')
			if j < 0 {
				j = len(raw) - i
			}
			out = append(out, raw[i:i+j]...)
			i += j
			continue
		}
		r, n := reference(raw[i:])
		if n == 0 {
			s.p += i
			return nil, s.fail("invalid character reference")
		}
		out = utf8.AppendRune(out, r)
		i += n
	}
	s.text = out
	return out, nil
}

// reference reads the reference at the start of b ('&'): one of XML's five entities or a
// decimal (&#NN;) or hexadecimal (&#xHH;, lower-case x as encoding/xml wants) character
// reference to an XML character. It returns the character and the reference's length, or 0.
func reference(b []byte) (rune, int) {
	for _, e := range entities {
		if bytes.HasPrefix(b, e.ref) {
			return e.r, len(e.ref)
		}
	}
	if len(b) < 4 || b[1] != '#' {
		return 0, 0
	}
	i, base := 2, rune(10)
	if b[2] == 'x' {
		i, base = 3, 16
	}
	start := i
	var r rune
	for ; i < len(b); i++ {
		c := b[i]
		var d rune
		switch {
		case '0' <= c && c <= '9':
			d = rune(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			d = rune(c-'A') + 10
		default:
			goto end
		}
		r = r*base + d
		if r > utf8.MaxRune {
			return 0, 0
		}
	}
end:
	if i == start || i >= len(b) || b[i] != ';' || !isXMLChar(r) {
		return 0, 0
	}
	return r, i + 1
}

var entities = []struct {
	ref []byte
	r   rune
}{
	{[]byte("&lt;"), '<'}, {[]byte("&gt;"), '>'}, {[]byte("&amp;"), '&'},
	{[]byte("&apos;"), '\''}, {[]byte("&quot;"), '"'},
}

// isXMLChar is XML's Char production without surrogates (which encoding/xml turns into
// U+FFFD; refused here).
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= utf8.MaxRune
}

// skip skips the rest of the element name (its start tag read), checking that what it skips
// is well formed as encoding/xml's Skip would.
func (s *scanner) skip(name []byte, empty bool) error {
	if empty {
		return nil
	}
	stack := append(s.stack[:0], name)
	defer func() { s.stack = stack[:0] }()
	for len(stack) > 0 {
		i := bytes.IndexByte(s.b[s.p:], '<')
		if i < 0 {
			return s.fail("unterminated <" + string(stack[len(stack)-1]) + ">")
		}
		if i > 0 {
			if _, err := s.decodeText(s.b[s.p : s.p+i]); err != nil {
				return err
			}
			s.p += i
		}
		if s.p+1 >= len(s.b) {
			return s.fail("unexpected end")
		}
		switch c := s.b[s.p+1]; {
		case c == '/':
			if err := s.endTag(stack[len(stack)-1]); err != nil {
				return err
			}
			stack = stack[:len(stack)-1]
		case c == '!':
			if err := s.comment(); err != nil {
				return err
			}
		case isNameStart(c):
			child, empty, err := s.startTag()
			if err != nil {
				return err
			}
			if !empty {
				if s.depth+len(stack) >= maxDepth {
					return s.fail("elements nested too deep")
				}
				stack = append(stack, child)
			}
		default:
			return s.fail("markup other than an element or comment")
		}
	}
	return nil
}

// lower returns name in lower case (ASCII: names are ASCII here), as the SDK matches element
// names with strings.EqualFold; nil when it is too long to be a member the SDK knows.
func (s *scanner) lower(name []byte) []byte {
	if len(name) > len(s.low) {
		return nil
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		s.low[i] = c
	}
	return s.low[:len(name)]
}
