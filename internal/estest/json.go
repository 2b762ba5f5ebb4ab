package estest

import (
	"bytes"
	"encoding/json"
	"sort"
)

// obj is a JSON object that keeps its keys in the order they were added, so
// responses read like Elasticsearch's ("took" before "items", "_index" before
// "_id") instead of in map order.
type obj []kv

type kv struct {
	k string
	v any
}

// MarshalJSON writes the object with its keys in insertion order.
func (o obj) MarshalJSON() ([]byte, error) { return marshal(o) }

// marshal encodes v without HTML escaping, as Elasticsearch does. obj and
// []any are written directly into one buffer: going through json.Marshaler
// for each nested object would re-validate every level.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := encode(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func encode(b *bytes.Buffer, v any) error {
	switch t := v.(type) {
	case obj:
		b.WriteByte('{')
		for i, p := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := encodeValue(b, p.k); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := encode(b, p.v); err != nil {
				return err
			}
		}
		b.WriteByte('}')
		return nil
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := encode(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	case json.RawMessage:
		return json.Compact(b, t)
	}
	return encodeValue(b, v)
}

func encodeValue(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}

// sortedObj turns a map into an obj with sorted keys, for stable output of
// data that has no natural order (settings, mappings).
func sortedObj(m map[string]any) obj {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	o := make(obj, 0, len(keys))
	for _, k := range keys {
		v := m[k]
		if sub, ok := v.(map[string]any); ok {
			v = sortedObj(sub)
		}
		o = append(o, kv{k, v})
	}
	return o
}
