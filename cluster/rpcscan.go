package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The request framing of raft's NetworkTransport, as its handleConn reads
// it: one byte of RPC type, then the request as one msgpack value (raft's
// codec.MsgpackHandle: structs as maps keyed by field name); an
// InstallSnapshot request is followed by its Size bytes of snapshot data.
// The codec trusts neither a declared string nor a declared collection
// length beyond 256 KiB at first, but it allocates as the bytes arrive, and
// every collection element costs a struct (a *raft.Log is ~100 bytes for a
// 1-byte empty map): what a request may make the decoder hold is bounded by
// its bytes and its count of values, which rpcScanner checks before raft's
// decoder sees the bytes.
const (
	rpcAppendEntries   = 0
	rpcInstallSnapshot = 2
	rpcMaxType         = 4 // rpcRequestPreVote, the last type raft 1.7 knows
)

// Errors of rpcScanner: what makes the stream layer close a connection.
var (
	errRPCType      = errors.New("unknown raft rpc type")
	errRPCMalformed = errors.New("malformed msgpack in raft rpc")
	errRPCTooLarge  = errors.New("raft rpc larger than the limit")
	errRPCValues    = errors.New("raft rpc has too many msgpack values")
	errRPCDepth     = errors.New("raft rpc nests msgpack deeper than the limit")
	errRPCSnapshot  = errors.New("raft snapshot larger than the limit")
)

// rpcLimits bound one request.
type rpcLimits struct {
	// MaxBytes bounds a request: the type byte and the msgpack value
	// (not the snapshot data that follows an InstallSnapshot).
	MaxBytes int64
	// MaxValues bounds the msgpack values of a request, containers and
	// scalars, keys included.
	MaxValues int
	// MaxSnapshot bounds the snapshot data of an InstallSnapshot.
	MaxSnapshot int64
}

// scanDepth bounds the nesting of a request. raft's deepest is the time
// of a log entry: AppendEntriesRequest → Entries → Log → AppendedAt (3).
const scanDepth = 8

// scanPhase is where a connection's stream is.
type scanPhase uint8

const (
	// phaseIdle: between requests, waiting for a type byte.
	phaseIdle scanPhase = iota
	// phaseRequest: inside a request's msgpack value.
	phaseRequest
	// phaseSnapshot: inside the snapshot data of an InstallSnapshot.
	phaseSnapshot
)

// rpcScanner follows the requests of one connection as its bytes arrive,
// without decoding them: it finds where each one ends, and refuses one
// that is malformed or over its limits. Its memory is fixed.
type rpcScanner struct {
	lim   rpcLimits
	phase scanPhase
	typ   byte
	// bytes and values of the current request.
	bytes  int64
	values int
	// head is a value's header (its first byte, then up to 8 of length
	// or scalar), which may arrive over several reads.
	head     [9]byte
	headLen  int
	headNeed int
	// skip is what is left of the payload of a str, bin or ext.
	skip int64
	// left[d] is the values left in the container open at depth d;
	// left[0] is the request's one value.
	left  [scanDepth + 1]int64
	depth int

	// An InstallSnapshot's Size, read from the key "Size" of its map.
	topCount int64 // values of the top-level map (2 per entry); 0: not a map
	key      [8]byte
	keyLen   int // bytes of key captured; -1: not a short str key
	keySize  bool
	snapSize int64
	snapLeft int64
}

func newRPCScanner(lim rpcLimits) *rpcScanner { return &rpcScanner{lim: lim} }

// feed scans b up to the end of the current request at most. It returns
// the bytes consumed and whether a request ended there (with its snapshot
// data, if any); the caller feeds the rest again.
func (s *rpcScanner) feed(b []byte) (n int, done bool, err error) {
	for n < len(b) {
		switch s.phase {
		case phaseIdle:
			if b[n] > rpcMaxType {
				return n, false, fmt.Errorf("%w %d", errRPCType, b[n])
			}
			*s = rpcScanner{lim: s.lim, phase: phaseRequest, typ: b[n], bytes: 1, keyLen: -1}
			s.left[0] = 1
			n++
		case phaseSnapshot:
			k := min(int64(len(b)-n), s.snapLeft)
			n += int(k)
			s.snapLeft -= k
			if s.snapLeft == 0 {
				s.phase = phaseIdle
				return n, true, nil
			}
		case phaseRequest:
			k, err := s.scanValue(b[n:])
			n += k
			if err != nil {
				return n, false, err
			}
			if s.left[0] == 0 {
				if s.typ == rpcInstallSnapshot && s.snapSize > 0 {
					s.phase, s.snapLeft = phaseSnapshot, s.snapSize
					continue
				}
				s.phase = phaseIdle
				return n, true, nil
			}
		}
	}
	return n, false, nil
}

// scanValue scans msgpack bytes of the current request until the request's
// value is complete or b is used up.
func (s *rpcScanner) scanValue(b []byte) (int, error) {
	n := 0
	for n < len(b) && s.left[0] > 0 {
		if s.skip > 0 {
			k := min(int64(len(b)-n), s.skip)
			s.capture(b[n : n+int(k)])
			if err := s.count(k); err != nil {
				return n, err
			}
			n += int(k)
			s.skip -= k
			if s.skip == 0 {
				s.valueDone()
			}
			continue
		}
		if s.headLen == 0 {
			need, ok := headSize(b[n])
			if !ok {
				return n, fmt.Errorf("%w: byte 0x%02x", errRPCMalformed, b[n])
			}
			s.headNeed = need
		}
		k := min(len(b)-n, s.headNeed-s.headLen)
		copy(s.head[s.headLen:], b[n:n+k])
		s.headLen += k
		if err := s.count(int64(k)); err != nil {
			return n, err
		}
		n += k
		if s.headLen < s.headNeed {
			return n, nil
		}
		s.headLen = 0
		if err := s.token(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// count adds k bytes to the request.
func (s *rpcScanner) count(k int64) error {
	s.bytes += k
	if s.bytes > s.lim.MaxBytes {
		return fmt.Errorf("%w of %d bytes", errRPCTooLarge, s.lim.MaxBytes)
	}
	return nil
}

// token handles a value whose header is complete in s.head[:s.headNeed].
func (s *rpcScanner) token() error {
	s.values++
	if s.values > s.lim.MaxValues {
		return fmt.Errorf("%w (%d)", errRPCValues, s.lim.MaxValues)
	}
	h := s.head[:s.headNeed]
	atTop := s.depth == 1 && s.topCount > 0
	isKey := atTop && (s.topCount-s.left[1])%2 == 0
	if isKey {
		s.keyLen, s.keySize = -1, false
	}
	elems, payload, isContainer := headLengths(h)
	if atTop && !isKey && s.keySize {
		if v, ok := headInt(h); ok {
			if v < 0 {
				return fmt.Errorf("%w: negative snapshot size", errRPCMalformed)
			}
			if s.typ == rpcInstallSnapshot {
				if v > s.lim.MaxSnapshot {
					return fmt.Errorf("%w: %d bytes, the limit is %d", errRPCSnapshot, v, s.lim.MaxSnapshot)
				}
				s.snapSize = v
			}
		}
	}
	if isContainer {
		if elems > int64(s.lim.MaxValues-s.values) {
			return fmt.Errorf("%w: a collection of %d values", errRPCValues, elems)
		}
		if elems == 0 {
			s.valueDone()
			return nil
		}
		if s.depth == scanDepth {
			return fmt.Errorf("%w (%d)", errRPCDepth, scanDepth)
		}
		s.depth++
		s.left[s.depth] = elems
		if s.depth == 1 && isMap(h[0]) {
			s.topCount = elems
		}
		return nil
	}
	if payload > s.lim.MaxBytes-s.bytes {
		return fmt.Errorf("%w: a value of %d bytes", errRPCTooLarge, payload)
	}
	if isKey && isStr(h[0]) && payload <= int64(len(s.key)) {
		s.keyLen = 0
	}
	if payload == 0 {
		s.valueDone()
		return nil
	}
	s.skip = payload
	return nil
}

// capture keeps the bytes of a short key of the top-level map.
func (s *rpcScanner) capture(b []byte) {
	if s.keyLen < 0 {
		return
	}
	s.keyLen += copy(s.key[s.keyLen:], b)
}

// valueDone ends a value, and the containers it completes.
func (s *rpcScanner) valueDone() {
	if s.keyLen >= 0 {
		s.keySize = string(s.key[:s.keyLen]) == "Size"
		s.keyLen = -1
	}
	for {
		s.left[s.depth]--
		if s.left[s.depth] > 0 || s.depth == 0 {
			return
		}
		s.depth--
	}
}

// headSize is the header length of a value that starts with c: the byte
// itself and the length or scalar bytes that follow it.
func headSize(c byte) (int, bool) {
	switch {
	case c <= 0x7f, c >= 0xe0, c >= 0x80 && c <= 0xbf:
		return 1, true // fixint, negative fixint, fixmap, fixarray, fixstr
	}
	switch c {
	case 0xc0, 0xc2, 0xc3:
		return 1, true // nil, false, true
	case 0xc4, 0xd9, 0xcc, 0xd0:
		return 2, true // bin8, str8, uint8, int8
	case 0xc5, 0xda, 0xcd, 0xd1, 0xdc, 0xde:
		return 3, true // bin16, str16, uint16, int16, array16, map16
	case 0xc6, 0xdb, 0xce, 0xd2, 0xdd, 0xdf, 0xca:
		return 5, true // bin32, str32, uint32, int32, array32, map32, float32
	case 0xcf, 0xd3, 0xcb:
		return 9, true // uint64, int64, float64
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return 2, true // fixext 1-16: the ext type
	case 0xc7:
		return 3, true // ext8: length, type
	case 0xc8:
		return 4, true // ext16
	case 0xc9:
		return 6, true // ext32
	}
	return 0, false // 0xc1, never used
}

// headLengths returns what follows a complete header h: the values of a
// container, or the payload bytes of a str, bin or ext.
func headLengths(h []byte) (elems, payload int64, container bool) {
	c := h[0]
	switch {
	case c >= 0x80 && c <= 0x8f:
		return 2 * int64(c&0x0f), 0, true
	case c >= 0x90 && c <= 0x9f:
		return int64(c & 0x0f), 0, true
	case c >= 0xa0 && c <= 0xbf:
		return 0, int64(c & 0x1f), false
	}
	switch c {
	case 0xc4, 0xd9:
		return 0, int64(h[1]), false
	case 0xc5, 0xda:
		return 0, int64(binary.BigEndian.Uint16(h[1:])), false
	case 0xc6, 0xdb:
		return 0, int64(binary.BigEndian.Uint32(h[1:])), false
	case 0xdc:
		return int64(binary.BigEndian.Uint16(h[1:])), 0, true
	case 0xdd:
		return int64(binary.BigEndian.Uint32(h[1:])), 0, true
	case 0xde:
		return 2 * int64(binary.BigEndian.Uint16(h[1:])), 0, true
	case 0xdf:
		return 2 * int64(binary.BigEndian.Uint32(h[1:])), 0, true
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return 0, 1 << (c - 0xd4), false
	case 0xc7:
		return 0, int64(h[1]), false
	case 0xc8:
		return 0, int64(binary.BigEndian.Uint16(h[1:])), false
	case 0xc9:
		return 0, int64(binary.BigEndian.Uint32(h[1:])), false
	}
	return 0, 0, false
}

// headInt returns the integer of a complete integer header.
func headInt(h []byte) (int64, bool) {
	c := h[0]
	switch {
	case c <= 0x7f:
		return int64(c), true
	case c >= 0xe0:
		return int64(int8(c)), true
	}
	switch c {
	case 0xcc:
		return int64(h[1]), true
	case 0xcd:
		return int64(binary.BigEndian.Uint16(h[1:])), true
	case 0xce:
		return int64(binary.BigEndian.Uint32(h[1:])), true
	case 0xcf:
		u := binary.BigEndian.Uint64(h[1:])
		if u > 1<<63-1 {
			return -1, true // no int64 Size; refused as negative
		}
		return int64(u), true
	case 0xd0:
		return int64(int8(h[1])), true
	case 0xd1:
		return int64(int16(binary.BigEndian.Uint16(h[1:]))), true
	case 0xd2:
		return int64(int32(binary.BigEndian.Uint32(h[1:]))), true
	case 0xd3:
		return int64(binary.BigEndian.Uint64(h[1:])), true
	}
	return 0, false
}

func isMap(c byte) bool { return c >= 0x80 && c <= 0x8f || c == 0xde || c == 0xdf }

func isStr(c byte) bool { return c >= 0xa0 && c <= 0xbf || c == 0xd9 || c == 0xda || c == 0xdb }
