package faultproxy

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
)

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

var requestCounter atomic.Uint64

// requestID makes the request id AWS puts on every answer; the SDK copies it
// into errors, which helps tell injected faults apart in test logs.
func requestID() string {
	return fmt.Sprintf("faultproxy-%08d", requestCounter.Add(1))
}

// writeError answers with an AWS error shaped for the request's protocol, as
// the SDK's deserializers read it.
func writeError(w http.ResponseWriter, r *Request, status int, code, message string) {
	id := requestID()
	fault := "Sender"
	if status >= 500 {
		fault = "Receiver"
	}
	h := w.Header()
	h.Set("X-Amzn-RequestId", id)
	switch r.Protocol {
	case ProtocolEC2Query:
		body := xmlHeader + "<Response><Errors><Error><Code>" + escape(code) + "</Code><Message>" + escape(message) +
			"</Message></Error></Errors><RequestID>" + id + "</RequestID></Response>"
		writeBody(w, status, "text/xml;charset=UTF-8", []byte(body))
	case ProtocolJSON:
		contentType := r.HTTP.Header.Get("Content-Type")
		if contentType == "" {
			contentType = "application/x-amz-json-1.1"
		}
		// Query-compatible services (SQS) take the code from this header;
		// the others ignore it.
		h.Set("X-Amzn-Query-Error", code+";"+fault)
		h.Set("X-Amzn-ErrorType", code)
		body, _ := json.Marshal(map[string]string{"__type": code, "message": message})
		writeBody(w, status, contentType, body)
	case ProtocolCBOR:
		h.Set("Smithy-Protocol", "rpc-v2-cbor")
		h.Set("X-Amzn-Query-Error", code+";"+fault)
		writeBody(w, status, "application/cbor", cborStringMap("__type", code, "message", message))
	default:
		// The query protocol's shape; REST-XML services read <Error> too.
		body := xmlHeader + "<ErrorResponse><Error><Type>" + fault + "</Type><Code>" + escape(code) +
			"</Code><Message>" + escape(message) + "</Message></Error><RequestId>" + id + "</RequestId></ErrorResponse>"
		writeBody(w, status, "text/xml", []byte(body))
	}
}

func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func escape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// cborStringMap encodes key/value string pairs as a CBOR map (RFC 8949),
// enough for a Smithy RPC v2 error body.
func cborStringMap(kv ...string) []byte {
	var b []byte
	b = cborHead(b, 5, uint64(len(kv)/2))
	for _, s := range kv {
		b = cborHead(b, 3, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// cborHead appends the initial bytes of a data item of the given major type
// and length.
func cborHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= 0xff:
		return append(b, m|24, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, m|27), n)
	}
}
