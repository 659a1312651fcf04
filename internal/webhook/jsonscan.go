package webhook

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/valyala/fastjson"
)

// A JSON scanner for the pod webhooks' reviews. A parser that builds the whole document first
// (fastjson, like encoding/json) allocates hundreds of bytes per JSON value as its arrays grow: a
// 3 MiB pod of short values (a long args or env list) cost 150 to 450 MiB to read, all of it for
// parts the webhooks never look at. The scanner walks the body without allocating, hands the members the webhooks read
// to their decoders and skips the rest, checking its syntax as leniently as fastjson's parser
// did, so a review it cannot read is still refused.

// memberFunc reads the value of an object's member: key is the member's name as the JSON has it
// (quoted, possibly escaped: see keyIs), s starts at the value; it returns what follows the value.
type memberFunc func(key, s []byte) ([]byte, error)

// errTooDeep: the scanner recurses, so it refuses what fastjson refuses to nest.
var errTooDeep = fmt.Errorf("the JSON is nested deeper than %d", fastjson.MaxDepth)

func skipWS(s []byte) []byte {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\n' || s[0] == '\t' || s[0] == '\r') {
		s = s[1:]
	}
	return s
}

// scanValue checks the JSON value at the start of s, nested depth deep, and returns what
// follows it.
func scanValue(s []byte, depth int) ([]byte, error) {
	if len(s) == 0 {
		return s, errors.New("unexpected end of JSON")
	}
	if depth > fastjson.MaxDepth {
		return s, errTooDeep
	}
	switch s[0] {
	case '{':
		return scanObject(s, depth, nil)
	case '[':
		return scanArray(s, depth)
	case '"':
		_, tail, err := scanString(s)
		return tail, err
	case 't':
		return scanLiteral(s, "true")
	case 'f':
		return scanLiteral(s, "false")
	case 'n':
		if len(s) >= 3 && bytes.EqualFold(s[:3], []byte("nan")) && !bytes.HasPrefix(s, []byte("null")) {
			return s[3:], nil // fastjson reads NaN as a number
		}
		return scanLiteral(s, "null")
	}
	return scanNumber(s)
}

// scanObject checks the JSON object at the start of s (s[0] is '{') and returns what follows it.
// It passes each member to member, or checks and skips its value when member is nil.
func scanObject(s []byte, depth int, member memberFunc) ([]byte, error) {
	if depth > fastjson.MaxDepth {
		return s, errTooDeep
	}
	s = skipWS(s[1:])
	if len(s) > 0 && s[0] == '}' {
		return s[1:], nil
	}
	for {
		if len(s) == 0 || s[0] != '"' {
			return s, errors.New("missing an object key")
		}
		key, tail, err := scanString(s)
		if err != nil {
			return tail, err
		}
		if s = skipWS(tail); len(s) == 0 || s[0] != ':' {
			return s, errors.New("missing ':' after an object key")
		}
		s = skipWS(s[1:])
		if member != nil {
			s, err = member(key, s)
		} else {
			s, err = scanValue(s, depth+1)
		}
		if err != nil {
			return s, err
		}
		s = skipWS(s)
		switch {
		case len(s) == 0:
			return s, errors.New("unexpected end of an object")
		case s[0] == ',':
			s = skipWS(s[1:])
		case s[0] == '}':
			return s[1:], nil
		default:
			return s, errors.New("missing ',' after an object value")
		}
	}
}

func scanArray(s []byte, depth int) ([]byte, error) {
	if depth > fastjson.MaxDepth {
		return s, errTooDeep
	}
	s = skipWS(s[1:])
	if len(s) > 0 && s[0] == ']' {
		return s[1:], nil
	}
	for {
		var err error
		if s, err = scanValue(s, depth+1); err != nil {
			return s, err
		}
		s = skipWS(s)
		switch {
		case len(s) == 0:
			return s, errors.New("unexpected end of an array")
		case s[0] == ',':
			s = skipWS(s[1:])
		case s[0] == ']':
			return s[1:], nil
		default:
			return s, errors.New("missing ',' after an array value")
		}
	}
}

// scanString returns the JSON string at the start of s (s[0] is '"'), quotes included, and what
// follows it. Like fastjson's parser it checks only where the string ends.
func scanString(s []byte) (str, tail []byte, err error) {
	for i := 1; ; i++ {
		n := bytes.IndexByte(s[i:], '"')
		if n < 0 {
			return nil, s, errors.New(`missing the closing '"' of a string`)
		}
		i += n
		escapes := 0
		for j := i - 1; j > 0 && s[j] == '\\'; j-- {
			escapes++
		}
		if escapes%2 == 0 {
			return s[:i+1], s[i+1:], nil
		}
	}
}

func scanLiteral(s []byte, lit string) ([]byte, error) {
	if !bytes.HasPrefix(s, []byte(lit)) {
		return s, fmt.Errorf("unexpected value %.20q", s)
	}
	return s[len(lit):], nil
}

// scanNumber reads a number as fastjson's parser does: any run of digits, signs, '.', 'e' and
// 'E', or an infinity or NaN.
func scanNumber(s []byte) ([]byte, error) {
	for i, c := range s {
		if '0' <= c && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E' {
			continue
		}
		if i == 0 || i == 1 && (s[0] == '-' || s[0] == '+') {
			if rest := s[i:]; len(rest) >= 3 && (bytes.EqualFold(rest[:3], []byte("inf")) || bytes.EqualFold(rest[:3], []byte("nan"))) {
				return rest[3:], nil
			}
			return s, fmt.Errorf("unexpected value %.20q", s)
		}
		return s[i:], nil
	}
	return nil, nil
}

// member reads a member's value into *raw (the value's JSON): through member when it is an object
// and member is not nil, else checking and skipping it.
func member(s []byte, depth int, raw *[]byte, member memberFunc) ([]byte, error) {
	var tail []byte
	var err error
	if member != nil && len(s) > 0 && s[0] == '{' {
		tail, err = scanObject(s, depth, member)
	} else {
		tail, err = scanValue(s, depth)
	}
	if err == nil {
		*raw = s[:len(s)-len(tail)]
	}
	return tail, err
}

// keyIs says whether the quoted JSON key names name.
func keyIs(key []byte, name string) bool {
	if len(key) == len(name)+2 && string(key[1:len(key)-1]) == name {
		return true
	}
	return bytes.IndexByte(key, '\\') >= 0 && unquote(key) == name
}

// unquote returns the string the JSON string q (quotes included) holds.
func unquote(q []byte) string {
	s := q[1 : len(q)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return string(s)
	}
	// Escapes are rare (the API server writes \u0026 for &, for one): fastjson unescapes them as
	// it did when it read the whole review.
	p := reviewParsers.Get()
	defer func() {
		if len(q) <= maxPooledBytes {
			reviewParsers.Put(p)
		}
	}()
	v, err := p.ParseBytes(q)
	if err != nil {
		return string(s)
	}
	return string(v.GetStringBytes())
}

// jsonPresent says whether raw, a member's value, is there and not null.
func jsonPresent(raw []byte) bool { return raw != nil && string(raw) != "null" }

// jsonType names the type of the JSON value raw as fastjson does.
func jsonType(raw []byte) string {
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't':
		return "true"
	case 'f':
		return "false"
	}
	if string(raw) == "null" {
		return "null"
	}
	return "number"
}
