package estest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// jkind is the kind of a JSON value.
type jkind int

const (
	jObject jkind = iota
	jArray
	jString
	jNumber
	jBool
	jNull
)

// tokenName is the name Jackson and ES error messages give a value kind.
func (k jkind) tokenName(n *jnode) string {
	switch k {
	case jObject:
		return "START_OBJECT"
	case jArray:
		return "START_ARRAY"
	case jString:
		return "VALUE_STRING"
	case jNumber:
		if strings.ContainsAny(n.str, ".eE") {
			return "VALUE_NUMBER_FLOAT"
		}
		return "VALUE_NUMBER_INT"
	case jBool:
		if n.b {
			return "VALUE_TRUE"
		}
		return "VALUE_FALSE"
	default:
		return "VALUE_NULL"
	}
}

// jnode is a parsed JSON value that remembers where it was in the input,
// so that errors can name a [line:column] the way ES does.
type jnode struct {
	kind jkind
	off  int // offset of the value's first byte
	end  int // objects and arrays: offset of the closing bracket
	str  string
	b    bool
	// objects
	keys    []string
	keyOffs []int
	vals    []*jnode
	// arrays
	elems []*jnode
}

// field returns the value under key k of an object node.
func (n *jnode) field(k string) *jnode {
	for i, key := range n.keys {
		if key == k {
			return n.vals[i]
		}
	}
	return nil
}

// value converts the node to plain Go values (json.Number for numbers).
func (n *jnode) value() any {
	switch n.kind {
	case jObject:
		m := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			m[k] = n.vals[i].value()
		}
		return m
	case jArray:
		a := make([]any, len(n.elems))
		for i, e := range n.elems {
			a[i] = e.value()
		}
		return a
	case jString:
		return n.str
	case jNumber:
		return json.Number(n.str)
	case jBool:
		return n.b
	default:
		return nil
	}
}

// ordered converts the node like value does, but objects become obj so
// that their key order survives re-encoding.
func (n *jnode) ordered() any {
	switch n.kind {
	case jObject:
		o := make(obj, len(n.keys))
		for i, k := range n.keys {
			o[i] = kv{k, n.vals[i].ordered()}
		}
		return o
	case jArray:
		a := make([]any, len(n.elems))
		for i, e := range n.elems {
			a[i] = e.ordered()
		}
		return a
	}
	return n.value()
}

// text is the value as ES's parser.text() gives it for scalars.
func (n *jnode) text() string {
	switch n.kind {
	case jString, jNumber:
		return n.str
	case jBool:
		if n.b {
			return "true"
		}
		return "false"
	case jNull:
		return "null"
	default:
		return preview(n)
	}
}

// preview renders a value as Java's Map/List toString does, which is what
// ES shows as "Preview of field's value".
func preview(n *jnode) string {
	switch n.kind {
	case jObject:
		parts := make([]string, len(n.keys))
		for i, k := range n.keys {
			parts[i] = k + "=" + preview(n.vals[i])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case jArray:
		parts := make([]string, len(n.elems))
		for i, e := range n.elems {
			parts[i] = preview(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	default:
		return n.text()
	}
}

// syntaxError is a JSON syntax problem at a byte offset.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return e.msg }

// parseTree parses one JSON value spanning all of data.
func parseTree(data []byte) (*jnode, error) {
	tp := &treeParser{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	tp.dec.UseNumber()
	n, err := tp.value()
	if err != nil {
		return nil, err
	}
	if tok, err := tp.dec.Token(); err != io.EOF {
		off := tp.start()
		if err != nil {
			return nil, tp.wrap(err)
		}
		return nil, &syntaxError{off: off, msg: fmt.Sprintf("Malformed content, found extra data after parsing: %v", tok)}
	}
	return n, nil
}

type treeParser struct {
	data []byte
	dec  *json.Decoder
}

// start is the offset of the next token: the decoder's position moved past
// whitespace and the separators it consumes silently.
func (tp *treeParser) start() int {
	i := int(tp.dec.InputOffset())
	for i < len(tp.data) {
		switch tp.data[i] {
		case ' ', '\t', '\n', '\r', ':', ',':
			i++
			continue
		}
		break
	}
	return i
}

func (tp *treeParser) wrap(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off := int(se.Offset) - 1
		if off < 0 {
			off = 0
		}
		return &syntaxError{off: off, msg: se.Error()}
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return &syntaxError{off: len(tp.data), msg: "Unexpected end-of-input"}
	}
	return &syntaxError{off: tp.start(), msg: err.Error()}
}

func (tp *treeParser) value() (*jnode, error) {
	off := tp.start()
	tok, err := tp.dec.Token()
	if err != nil {
		return nil, tp.wrap(err)
	}
	return tp.fromToken(tok, off)
}

func (tp *treeParser) fromToken(tok json.Token, off int) (*jnode, error) {
	n := &jnode{off: off}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n.kind = jObject
			for tp.dec.More() {
				koff := tp.start()
				ktok, err := tp.dec.Token()
				if err != nil {
					return nil, tp.wrap(err)
				}
				k, ok := ktok.(string)
				if !ok {
					return nil, &syntaxError{off: koff, msg: "expected a field name"}
				}
				for _, seen := range n.keys {
					if seen == k {
						return nil, &syntaxError{off: koff, msg: fmt.Sprintf("Duplicate field '%s'", k)}
					}
				}
				v, err := tp.value()
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, k)
				n.keyOffs = append(n.keyOffs, koff)
				n.vals = append(n.vals, v)
			}
		case '[':
			n.kind = jArray
			for tp.dec.More() {
				v, err := tp.value()
				if err != nil {
					return nil, err
				}
				n.elems = append(n.elems, v)
			}
		default:
			return nil, &syntaxError{off: off, msg: fmt.Sprintf("Unexpected close marker '%c'", rune(t))}
		}
		n.end = tp.start()
		if _, err := tp.dec.Token(); err != nil {
			return nil, tp.wrap(err)
		}
	case string:
		n.kind, n.str = jString, t
	case json.Number:
		n.kind, n.str = jNumber, string(t)
	case bool:
		n.kind, n.b = jBool, t
	case nil:
		n.kind = jNull
	}
	return n, nil
}

// location renders a byte offset as ES's "[line:column]" (1-based, in bytes
// as Jackson counts them for byte input).
func location(data []byte, off int) string {
	if off > len(data) {
		off = len(data)
	}
	line, col := 1, off+1
	if i := bytes.LastIndexByte(data[:off], '\n'); i >= 0 {
		line = 1 + bytes.Count(data[:off], []byte{'\n'})
		col = off - i
	}
	return fmt.Sprintf("[%d:%d]", line, col)
}

// xContentParse is the error ES answers for JSON it cannot read.
func xContentParse(data []byte, off int, format string, args ...any) *esError {
	e := newError(http.StatusBadRequest, "x_content_parse_exception", format, args...)
	e.reason = location(data, off) + " " + e.reason
	return e
}

// parseBody parses a JSON request body into a tree; a syntax error is the
// x_content_parse_exception ES answers.
func parseBody(body []byte) (*jnode, *esError) {
	n, err := parseTree(body)
	if err != nil {
		se := err.(*syntaxError)
		return nil, xContentParse(body, se.off, "%s", se.msg)
	}
	return n, nil
}
