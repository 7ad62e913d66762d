package dnsserver

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// position is where a record of a master file starts.
type position struct {
	file string
	line int
}

// maxIncludeDepth matches miekg/dns's own limit on nested $INCLUDEs.
const maxIncludeDepth = 7

// scanPositions returns the file and line of every record in a master file,
// in the order miekg/dns's ZoneParser returns the records. ZoneParser keeps
// positions to itself, so this small scanner walks the same grammar (comments,
// quoted strings, escapes, parentheses, $ORIGIN, $INCLUDE, $GENERATE) to
// number the entries; semantic errors found after parsing can then say
// file:line. It also refuses an $ORIGIN outside the zone, which would
// otherwise show up as a confusing out-of-zone record.
// Included files are read from fsys, resolved as miekg/dns resolves them
// (relative to the including file, a leading "/" dropped), so the scanner
// reads exactly the files the parser read.
// It stops at the record past MaxZoneRecords and at the $INCLUDE past
// maxIncludes, with their position.
func scanPositions(fsys fs.FS, data []byte, file, zoneOrigin string) ([]position, error) {
	var out []position
	err := scanFile(&countFS{FS: fsys}, data, file, zoneOrigin, zoneOrigin, 0, &out)
	return out, err
}

// includePath is the path in the zone's FS of an $INCLUDE target, as
// miekg/dns's ZoneParser resolves it with an include FS.
func includePath(from, target string) string {
	if !path.IsAbs(target) {
		target = path.Join(path.Dir(from), target)
	}
	return strings.TrimLeft(path.Clean(target), "/")
}

func scanFile(fsys fs.FS, data []byte, file, zoneOrigin, origin string, depth int, out *[]position) error {
	for _, e := range logicalLines(string(data)) {
		if len(e.tokens) == 0 {
			continue
		}
		switch strings.ToUpper(e.tokens[0]) {
		case "$ORIGIN":
			if len(e.tokens) < 2 {
				continue // the parser has already reported it
			}
			o := e.tokens[1]
			if !dns.IsFqdn(o) {
				o = dns.Fqdn(o + "." + strings.TrimSuffix(origin, "."))
			}
			o = dns.CanonicalName(o)
			if !dns.IsSubDomain(zoneOrigin, o) {
				return &ZoneError{File: file, Line: e.line, Msg: fmt.Sprintf("$ORIGIN %s is outside the zone %s", e.tokens[1], zoneOrigin)}
			}
			origin = o
		case "$TTL":
		case "$INCLUDE":
			if len(e.tokens) < 2 || depth >= maxIncludeDepth {
				continue
			}
			path := includePath(file, e.tokens[1])
			inc, err := fs.ReadFile(fsys, path)
			if err != nil {
				return &ZoneError{File: file, Line: e.line, Msg: err.Error()}
			}
			incOrigin := origin
			if len(e.tokens) > 2 {
				incOrigin = dns.CanonicalName(dns.Fqdn(e.tokens[2]))
			}
			if err := scanFile(fsys, inc, path, zoneOrigin, incOrigin, depth+1, out); err != nil {
				return err
			}
		case "$GENERATE":
			n := generateCount(e.tokens)
			if len(*out)+n > MaxZoneRecords {
				return &ZoneError{File: file, Line: e.line, Msg: tooManyRecords}
			}
			for range n {
				*out = append(*out, position{file, e.line})
			}
		default:
			if len(*out) == MaxZoneRecords {
				return &ZoneError{File: file, Line: e.line, Msg: tooManyRecords}
			}
			*out = append(*out, position{file, e.line})
		}
	}
	return nil
}

// generateCount is how many records "$GENERATE start-stop[/step] …" makes.
func generateCount(tokens []string) int {
	if len(tokens) < 2 {
		return 0
	}
	rng, stepStr, hasStep := strings.Cut(tokens[1], "/")
	lo, hi, ok := strings.Cut(rng, "-")
	if !ok {
		return 0
	}
	start, err1 := strconv.Atoi(lo)
	stop, err2 := strconv.Atoi(hi)
	step := 1
	if hasStep {
		s, err := strconv.Atoi(stepStr)
		if err != nil || s < 1 {
			return 0
		}
		step = s
	}
	if err1 != nil || err2 != nil || start < 0 || stop < start {
		return 0
	}
	return (stop-start)/step + 1
}

// entry is one logical line of a master file: its tokens and the line the
// first token is on.
type entry struct {
	line   int
	tokens []string
	// openLine and openCol are where the entry's "(" is that no ")"
	// closes: 0 when every "(" is closed.
	openLine, openCol int
}

// logicalLines splits a master file into entries: a newline ends an entry
// unless it is inside parentheses; ";" starts a comment outside quotes;
// backslash escapes the next character.
func logicalLines(s string) []entry {
	var (
		out     []entry
		cur     entry
		tok     strings.Builder
		inTok   bool
		line    = 1
		bol     int // index of the first byte of the line
		paren   int
		quoted  bool
		comment bool
	)
	endTok := func() {
		if inTok {
			cur.tokens = append(cur.tokens, tok.String())
			tok.Reset()
			inTok = false
		}
	}
	startTok := func() {
		if !inTok {
			inTok = true
			if len(cur.tokens) == 0 {
				cur.line = line
			}
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if comment {
			if c != '\n' {
				continue
			}
			comment = false
		}
		switch {
		case c == '\\' && i+1 < len(s):
			startTok()
			tok.WriteByte(c)
			i++
			tok.WriteByte(s[i])
			if s[i] == '\n' {
				line++
				bol = i + 1
			}
		case quoted:
			tok.WriteByte(c)
			if c == '"' {
				quoted = false
			}
			if c == '\n' {
				line++
				bol = i + 1
			}
		case c == '"':
			startTok()
			tok.WriteByte(c)
			quoted = true
		case c == ';':
			endTok()
			comment = true
		case c == '(':
			endTok()
			if paren == 0 {
				cur.openLine, cur.openCol = line, i-bol+1
			}
			paren++
		case c == ')':
			endTok()
			if paren > 0 {
				paren--
				if paren == 0 {
					cur.openLine, cur.openCol = 0, 0
				}
			}
		case c == '\n':
			endTok()
			line++
			bol = i + 1
			if paren == 0 {
				out = append(out, cur)
				cur = entry{}
			}
		case c == ' ' || c == '\t' || c == '\r':
			endTok()
		default:
			startTok()
			tok.WriteByte(c)
		}
	}
	endTok()
	return append(out, cur)
}

// unclosedParen returns the line and column of the "(" of data that no
// ")" closes, or 0, 0.
func unclosedParen(data []byte) (line, col int) {
	e := logicalLines(string(data))
	last := e[len(e)-1]
	return last.openLine, last.openCol
}
