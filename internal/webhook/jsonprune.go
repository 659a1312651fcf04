package webhook

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/valyala/fastjson"
)

// Large reviews are not read whole. A pruner streams the body through a small window, checks its
// syntax as the scanner does (jsonscan.go), and writes out a pruned review: the same JSON with
// only the members parse reads, and every other value dropped or, where parse reads its type,
// replaced by an empty one of that type. parse then reads the pruned review, so both paths decide
// alike (FuzzPruneLikeParse), and a review costs a window and what parse reads of it, not its body.
//
// The body must be read as it arrives, not after waiting for memory: over HTTP/2 every review
// shares the API server's connection, whose flow-control window (1 MiB) refills only as handlers
// read, so reviews holding unread data stall the reviews being read. What a review keeps beyond
// prunedAllowance (a pod with that much in labels, node selector and required node affinity) is
// drawn from largeRetainedBytes; a review that finds it spent is refused at once (429).

const (
	pruneWindowBytes = 32 << 10
	// prunedAllowance is what a pruned review may keep without drawing on largeRetainedBytes:
	// a pod's labels and affinity are a few KiB.
	prunedAllowance = 64 << 10
	// largeRetainedBytes bounds what pruned reviews keep beyond prunedAllowance, together. What
	// parse decodes of it takes up to five times as much (a map of labels), so two reviews that
	// keep 3 MiB of labels take some 40 MiB together.
	largeRetainedBytes = 8 << 20
	// maxKeyBytes: a longer object key cannot name a member parse reads (not even with each
	// character escaped), so it is not kept.
	maxKeyBytes = 1 << 10
)

var (
	pruneWindows = sync.Pool{New: func() any { return new([pruneWindowBytes]byte) }}
	// largeRetained is what pruned reviews hold of largeRetainedBytes.
	largeRetained atomic.Int64

	errRetainedBusy = fmt.Errorf("too many pods with over %d KiB of labels and node affinity are being reviewed at once", prunedAllowance>>10)
	errJSONEnd      = errors.New("unexpected end of JSON")
)

// reserveRetained draws n bytes from largeRetainedBytes, if they are there.
func reserveRetained(n int64) bool {
	for {
		held := largeRetained.Load()
		if held+n > largeRetainedBytes {
			return false
		}
		if largeRetained.CompareAndSwap(held, held+n) {
			return true
		}
	}
}

// pruneRule says what of an object's members the pruned review keeps.
type pruneRule func(key []byte) pruneAction

type pruneAction struct {
	kind pruneKind
	want byte      // keep: the first byte of the type kept verbatim ('"' or '{')
	rule pruneRule // descend: the rule for the object's members
	uid  bool      // the request's UID, noted for a refusal
}

type pruneKind uint8

const (
	drop         pruneKind = iota // the member is left out
	keep                          // its value is kept if of type want, else replaced by an empty one of its type
	descend                       // its value is pruned by rule if an object, else replaced by an empty one
	dropIfString                  // its value is left out if a string, else replaced by an empty one (parse refuses it)
)

func keepAs(want byte) pruneAction      { return pruneAction{kind: keep, want: want} }
func descendBy(r pruneRule) pruneAction { return pruneAction{kind: descend, rule: r} }

// The members parse reads (see reviewFields.scan).
var (
	pruneRoot, pruneRequest, prunePod, pruneMetadata, pruneAnnotations, pruneSpec, pruneAffinity, pruneNodeAffinity pruneRule
)

func init() {
	pruneRoot = func(k []byte) pruneAction {
		switch {
		case keyIs(k, "apiVersion"):
			return keepAs('"')
		case keyIs(k, "request"):
			return descendBy(pruneRequest)
		}
		return pruneAction{}
	}
	pruneRequest = func(k []byte) pruneAction {
		switch {
		case keyIs(k, "uid"):
			return pruneAction{kind: keep, want: '"', uid: true}
		case keyIs(k, "operation"), keyIs(k, "namespace"):
			return keepAs('"')
		case keyIs(k, "object"):
			return descendBy(prunePod)
		}
		return pruneAction{}
	}
	prunePod = func(k []byte) pruneAction {
		switch {
		case keyIs(k, "metadata"):
			return descendBy(pruneMetadata)
		case keyIs(k, "spec"):
			return descendBy(pruneSpec)
		}
		return pruneAction{}
	}
	pruneMetadata = func(k []byte) pruneAction {
		switch {
		case keyIs(k, "name"), keyIs(k, "generateName"), keyIs(k, "namespace"):
			return keepAs('"')
		case keyIs(k, "labels"):
			return keepAs('{')
		case keyIs(k, "annotations"):
			return descendBy(pruneAnnotations)
		}
		return pruneAction{}
	}
	pruneAnnotations = func(k []byte) pruneAction {
		for _, name := range placementAnnotations {
			if keyIs(k, name) {
				return keepAs('"')
			}
		}
		return pruneAction{kind: dropIfString}
	}
	pruneSpec = func(k []byte) pruneAction {
		switch {
		case keyIs(k, "nodeName"):
			return keepAs('"')
		case keyIs(k, "nodeSelector"):
			return keepAs('{')
		case keyIs(k, "affinity"):
			return descendBy(pruneAffinity)
		}
		return pruneAction{}
	}
	pruneAffinity = func(k []byte) pruneAction {
		if keyIs(k, "nodeAffinity") {
			return descendBy(pruneNodeAffinity)
		}
		return pruneAction{}
	}
	pruneNodeAffinity = func(k []byte) pruneAction {
		if keyIs(k, "requiredDuringSchedulingIgnoredDuringExecution") {
			return keepAs('{')
		}
		return pruneAction{}
	}
}

// pruner reads a JSON document from r through buf[pos:end] and writes the pruned document to out.
type pruner struct {
	r        io.Reader
	buf      []byte
	pos, end int
	eof      bool
	readErr  error // a failure to read the body (not the end of it)
	read     int64 // bytes read
	// rec, when not nil, receives the bytes consumed from buf[recFrom:] on: out for a value kept
	// verbatim, keyBuf for an object key.
	rec     *bytes.Buffer
	recFrom int
	out     *bytes.Buffer
	keyBuf  bytes.Buffer
	key     []byte // the key just read, quotes included; nil when longer than maxKeyBytes
	held    int64  // of largeRetainedBytes
	busy    bool   // largeRetainedBytes is spent: stop reading
	uid     string // the request's UID, once read
}

// pruneReview writes the pruned review of the body r into out. It returns what it holds of
// largeRetainedBytes, to be released once the review is decided, also on error, and the request's
// UID if it read that far, for a refusal to name. A failure to read the body is returned as a
// readError.
func pruneReview(r io.Reader, out *bytes.Buffer) (held int64, uid string, err error) {
	window := pruneWindows.Get().(*[pruneWindowBytes]byte)
	defer pruneWindows.Put(window)
	p := &pruner{r: r, buf: window[:], out: out}
	err = p.document()
	switch {
	case p.busy:
		err = errRetainedBusy
	case p.readErr != nil:
		err = readError{p.readErr}
	}
	return p.held, p.uid, err
}

type readError struct{ error }

func (e readError) Unwrap() error { return e.error }

func (p *pruner) document() error {
	p.skipWS()
	if !p.ensure(1) {
		if p.read == 0 && p.readErr == nil {
			return errEmptyBody
		}
		return errJSONEnd
	}
	if p.buf[p.pos] == '{' {
		p.pos++
		if err := p.object(1, pruneRoot); err != nil {
			return err
		}
	} else if err := p.placeholder(1); err != nil { // parse refuses it: not a JSON object
		return err
	}
	p.skipWS()
	if p.ensure(1) {
		return fmt.Errorf("unexpected tail: %.20q", p.buf[p.pos:p.end])
	}
	p.retain()
	return nil
}

var errEmptyBody = errors.New("the request has no body")

// ensure makes n bytes available in buf[pos:end], if the body has them, moving the unread rest to
// the front of buf. It stops at the end of the body, and once largeRetainedBytes is found spent.
func (p *pruner) ensure(n int) bool {
	for p.end-p.pos < n {
		if p.eof || p.busy {
			return false
		}
		if p.rec != nil {
			p.flush()
			p.recFrom = 0
		}
		p.end = copy(p.buf, p.buf[p.pos:p.end])
		p.pos = 0
		m, err := p.r.Read(p.buf[p.end:])
		p.end += m
		p.read += int64(m)
		if err != nil {
			p.eof = true
			if err != io.EOF {
				p.readErr = err
			}
		}
	}
	return true
}

// flush moves what was consumed since recFrom to rec. Of a key, it keeps no more than shows
// it is too long.
func (p *pruner) flush() {
	if p.rec != &p.keyBuf || p.keyBuf.Len() <= maxKeyBytes {
		p.rec.Write(p.buf[p.recFrom:p.pos])
	}
	p.recFrom = p.pos
	if p.rec == p.out {
		p.retain()
	}
}

// retain checks what out holds against prunedAllowance, drawing the excess from
// largeRetainedBytes, and notes when it cannot.
func (p *pruner) retain() {
	over := int64(p.out.Len()) - prunedAllowance - p.held
	if over <= 0 || p.busy {
		return
	}
	n := max(over, 256<<10)
	if !reserveRetained(n) {
		p.busy = true
		return
	}
	p.held += n
}

func (p *pruner) skipWS() {
	for p.ensure(1) {
		switch p.buf[p.pos] {
		case ' ', '\n', '\t', '\r':
			p.pos++
		default:
			return
		}
	}
}

// object prunes the members of the object at pos (its '{' consumed) by rule.
func (p *pruner) object(depth int, rule pruneRule) error {
	if depth > fastjson.MaxDepth {
		return errTooDeep
	}
	p.out.WriteByte('{')
	first := true
	p.skipWS()
	if p.ensure(1) && p.buf[p.pos] == '}' {
		p.pos++
		p.out.WriteByte('}')
		return nil
	}
	for {
		if !p.ensure(1) || p.buf[p.pos] != '"' {
			return errors.New("missing an object key")
		}
		if err := p.readKey(); err != nil {
			return err
		}
		if p.skipWS(); !p.ensure(1) || p.buf[p.pos] != ':' {
			return errors.New("missing ':' after an object key")
		}
		p.pos++
		p.skipWS()
		if !p.ensure(1) {
			return errJSONEnd
		}
		act := rule(p.key) // a long key (nil) names no member a rule keeps
		c := p.buf[p.pos]
		if act.kind == dropIfString && c == '"' || act.kind == drop {
			if err := p.skipValue(depth + 1); err != nil {
				return err
			}
		} else {
			if !first {
				p.out.WriteByte(',')
			}
			first = false
			if p.key != nil {
				p.out.Write(p.key)
			} else {
				p.out.WriteString(`"(a long key)"`)
			}
			p.out.WriteByte(':')
			var err error
			switch {
			case act.kind == keep && c == act.want:
				start := p.out.Len()
				if err = p.verbatim(depth + 1); err == nil && act.uid && p.uid == "" {
					p.uid = unquote(p.out.Bytes()[start:])
				}
			case act.kind == descend && c == '{':
				p.pos++
				err = p.object(depth+1, act.rule)
			default:
				err = p.placeholder(depth + 1)
			}
			if err != nil {
				return err
			}
			p.retain()
		}
		p.skipWS()
		if !p.ensure(1) {
			return errors.New("unexpected end of an object")
		}
		switch p.buf[p.pos] {
		case ',':
			p.pos++
			p.skipWS()
		case '}':
			p.pos++
			p.out.WriteByte('}')
			return nil
		default:
			return errors.New("missing ',' after an object value")
		}
	}
}

// readKey reads the object key at pos into p.key.
func (p *pruner) readKey() error {
	p.keyBuf.Reset()
	p.rec, p.recFrom = &p.keyBuf, p.pos
	err := p.skipString()
	p.flush()
	p.rec = nil
	if p.key = p.keyBuf.Bytes(); len(p.key) > maxKeyBytes {
		p.key = nil
	}
	return err
}

// verbatim copies the value at pos to out.
func (p *pruner) verbatim(depth int) error {
	p.rec, p.recFrom = p.out, p.pos
	err := p.skipValue(depth)
	p.flush()
	p.rec = nil
	return err
}

// placeholder skips the value at pos and writes an empty value of its type: all parse reads of
// a value it does not want is its type.
func (p *pruner) placeholder(depth int) error {
	c := p.buf[p.pos]
	null := c == 'n' && p.ensure(4) && string(p.buf[p.pos:p.pos+4]) == "null"
	if err := p.skipValue(depth); err != nil {
		return err
	}
	switch {
	case c == '"':
		p.out.WriteString(`""`)
	case c == '{':
		p.out.WriteString(`{}`)
	case c == '[':
		p.out.WriteString(`[]`)
	case c == 't':
		p.out.WriteString(`true`)
	case c == 'f':
		p.out.WriteString(`false`)
	case null:
		p.out.WriteString(`null`)
	default:
		p.out.WriteString(`0`)
	}
	return nil
}

// skipValue checks the value at pos, as scanValue does, and moves past it.
func (p *pruner) skipValue(depth int) error {
	if !p.ensure(1) {
		return errJSONEnd
	}
	if depth > fastjson.MaxDepth {
		return errTooDeep
	}
	switch p.buf[p.pos] {
	case '{':
		p.pos++
		return p.skipContainer(depth, '}')
	case '[':
		p.pos++
		return p.skipContainer(depth, ']')
	case '"':
		return p.skipString()
	case 't':
		return p.literal("true")
	case 'f':
		return p.literal("false")
	case 'n':
		if p.ensure(3) && bytes.EqualFold(p.buf[p.pos:p.pos+3], []byte("nan")) {
			p.pos += 3
			return nil
		}
		return p.literal("null")
	}
	return p.number()
}

// skipContainer checks the members or elements of the object or array at pos (its opening
// bracket consumed) up to its closing bracket.
func (p *pruner) skipContainer(depth int, closing byte) error {
	if depth > fastjson.MaxDepth {
		return errTooDeep
	}
	p.skipWS()
	if p.ensure(1) && p.buf[p.pos] == closing {
		p.pos++
		return nil
	}
	for {
		if closing == '}' {
			if !p.ensure(1) || p.buf[p.pos] != '"' {
				return errors.New("missing an object key")
			}
			if err := p.skipString(); err != nil {
				return err
			}
			if p.skipWS(); !p.ensure(1) || p.buf[p.pos] != ':' {
				return errors.New("missing ':' after an object key")
			}
			p.pos++
			p.skipWS()
		}
		if err := p.skipValue(depth + 1); err != nil {
			return err
		}
		p.skipWS()
		if !p.ensure(1) {
			return errJSONEnd
		}
		switch c := p.buf[p.pos]; c {
		case ',':
			p.pos++
			p.skipWS()
		case closing:
			p.pos++
			return nil
		default:
			return fmt.Errorf("missing ',' after a value, found %q", c)
		}
	}
}

// skipString moves past the string at pos. Like fastjson's parser it checks only where the
// string ends.
func (p *pruner) skipString() error {
	first := true
	for {
		if !p.ensure(1) {
			return errors.New(`missing the closing '"' of a string`)
		}
		done, err := p.stringSpan(first)
		if err != nil || done {
			return err
		}
		first = false
	}
}

// stringSpan moves through the string at pos as far as buf goes, past its opening quote when
// opening; done says it reached the closing quote.
func (p *pruner) stringSpan(opening bool) (done bool, err error) {
	if opening {
		p.pos++ // the opening quote
	}
	for p.pos < p.end {
		seg := p.buf[p.pos:p.end]
		q := bytes.IndexByte(seg, '"')
		if q < 0 {
			q = len(seg)
		}
		if b := bytes.IndexByte(seg[:q], '\\'); b >= 0 {
			// An escape: move past it and the character it escapes.
			p.pos += b
			if !p.ensure(2) {
				return false, errors.New(`missing the closing '"' of a string`)
			}
			p.pos += 2
			continue
		}
		if q < len(seg) {
			p.pos += q + 1
			return true, nil
		}
		p.pos = p.end
	}
	return false, nil
}

func (p *pruner) literal(lit string) error {
	if !p.ensure(len(lit)) || string(p.buf[p.pos:p.pos+len(lit)]) != lit {
		return fmt.Errorf("unexpected value %.20q", p.buf[p.pos:p.end])
	}
	p.pos += len(lit)
	return nil
}

// number moves past a number as scanNumber reads it.
func (p *pruner) number() error {
	n := 0
	sign := false
	for p.ensure(1) {
		c := p.buf[p.pos]
		if '0' <= c && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E' {
			sign = n == 0 && (c == '-' || c == '+')
			p.pos++
			n++
			continue
		}
		if n == 0 || n == 1 && sign {
			if p.ensure(3) && (bytes.EqualFold(p.buf[p.pos:p.pos+3], []byte("inf")) || bytes.EqualFold(p.buf[p.pos:p.pos+3], []byte("nan"))) {
				p.pos += 3
				return nil
			}
			return fmt.Errorf("unexpected value %.20q", p.buf[p.pos:p.end])
		}
		return nil
	}
	return nil
}
