package dnsserver

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/internal/names"
)

// positions is where each record of a master file starts, in the order
// miekg/dns's ZoneParser returns the records: the line of every record
// (4 bytes each, so that a zone of a million records keeps 4 MB of them)
// and the file of every run of records.
type positions struct {
	lines []int32
	files []fileRun
}

// fileRun says that records from index from on come from file.
type fileRun struct {
	from int
	file string
}

// at returns the file and line of the i-th record.
func (p *positions) at(i int) (string, int) {
	j := sort.Search(len(p.files), func(j int) bool { return p.files[j].from > i }) - 1
	return p.files[j].file, int(p.lines[i])
}

func (p *positions) add(file string, line, n int) {
	if k := len(p.files); k == 0 || p.files[k-1].file != file {
		p.files = append(p.files, fileRun{from: len(p.lines), file: file})
	}
	for range n {
		p.lines = append(p.lines, int32(line))
	}
}

// maxIncludeDepth matches miekg/dns's own limit on nested $INCLUDEs.
const maxIncludeDepth = 7

// scanner walks a master file and the files it includes before the
// parser does, for what ZoneParser keeps to itself or would only find out
// too late: the file and line of every record (semantic errors found after
// parsing then say file:line), and the limits, checked before the parser
// expands a $GENERATE or reads an $INCLUDE. It walks the parser's grammar
// (comments, quoted strings, escapes, parentheses, $ORIGIN, $INCLUDE,
// $GENERATE). It also refuses an $ORIGIN outside the zone, which would
// otherwise show up as a confusing out-of-zone record. Included files are
// read from fsys, resolved as miekg/dns resolves them (relative to the
// including file, a leading "/" dropped), so the scanner reads exactly the
// files the parser reads.
type scanner struct {
	fsys       fs.FS
	lim        ZoneLimits
	zoneOrigin string
	pos        positions
	bytes      int64 // of the file and the files read so far
	generated  int   // records of $GENERATE lines so far
	// soft is the first error that is not a limit: the parser, whose
	// syntax errors come first, runs all the same.
	soft error
}

// scanZone scans data, the text of file, for a zone of origin. A limit
// error comes back as hard: the parser must not run. Another error (an
// $ORIGIN outside the zone, an $INCLUDE that does not read) comes back as
// soft, once the whole text is scanned within the limits.
func scanZone(fsys fs.FS, lim ZoneLimits, data []byte, file, zoneOrigin string) (p *positions, soft, hard error) {
	s := &scanner{fsys: &countFS{FS: fsys}, lim: lim, zoneOrigin: zoneOrigin, bytes: int64(len(data))}
	if err := s.file(data, file, zoneOrigin, 0); err != nil {
		return nil, nil, err
	}
	return &s.pos, s.soft, nil
}

// MayInclude reports whether data, the text of a master file, may hold an
// $INCLUDE: a "$" followed by INCLUDE in any case, anywhere (in a comment or
// a quoted string too). False means the file includes nothing, so that what
// it reads is itself alone, and a caller that scans it only for the files
// it includes (site.readZones) need not: parsing checks the rest.
func MayInclude(data []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(data[i:], '$')
		if j < 0 {
			return false
		}
		i += j + 1
		if len(data)-i >= len("INCLUDE") && bytes.EqualFold(data[i:i+len("INCLUDE")], []byte("INCLUDE")) {
			return true
		}
	}
}

// includePath is the path in the zone's FS of an $INCLUDE target, as
// miekg/dns's ZoneParser resolves it with an include FS.
func includePath(from, target string) string {
	if !path.IsAbs(target) {
		target = path.Join(path.Dir(from), target)
	}
	return strings.TrimLeft(path.Clean(target), "/")
}

func (s *scanner) setSoft(err error) {
	if s.soft == nil {
		s.soft = err
	}
}

func (s *scanner) file(data []byte, file, origin string, depth int) error {
	var err error
	eachEntry(data, func(e *entry) bool {
		err = s.entry(data, e, file, &origin, depth)
		return err == nil
	})
	return err
}

func (s *scanner) entry(data []byte, e *entry, file string, origin *string, depth int) error {
	if e.n == 0 {
		return nil
	}
	if !e.directive(data) {
		if len(s.pos.lines) >= s.lim.MaxRecords {
			return s.tooMany(file, e.line)
		}
		s.pos.add(file, e.line, 1)
		return nil
	}
	tok := func(k int) string { return e.token(data, k) }
	switch strings.ToUpper(tok(0)) {
	case "$ORIGIN":
		if e.n < 2 {
			return nil // the parser reports it
		}
		o := tok(1)
		if !dns.IsFqdn(o) {
			o = dns.Fqdn(o + "." + strings.TrimSuffix(*origin, "."))
		}
		o = names.Canonical(o)
		if !dns.IsSubDomain(s.zoneOrigin, o) {
			s.setSoft(&ZoneError{File: file, Line: e.line, Msg: fmt.Sprintf("$ORIGIN %s is outside the zone %s", tok(1), s.zoneOrigin)})
		}
		*origin = o
	case "$TTL":
	case "$INCLUDE":
		if e.n < 2 || depth >= maxIncludeDepth {
			return nil
		}
		p := includePath(file, tok(1))
		if st, err := fs.Stat(s.fsys, p); err == nil && s.bytes+st.Size() > s.lim.MaxFileSize {
			return s.tooLarge(file, e.line)
		}
		inc, err := fs.ReadFile(s.fsys, p)
		if err != nil {
			s.setSoft(&ZoneError{File: file, Line: e.line, Msg: err.Error()})
			return nil
		}
		if s.bytes += int64(len(inc)); s.bytes > s.lim.MaxFileSize {
			return s.tooLarge(file, e.line)
		}
		incOrigin := *origin
		if e.n > 2 {
			incOrigin = names.Canonical(dns.Fqdn(tok(2)))
		}
		return s.file(inc, p, incOrigin, depth+1)
	case "$GENERATE":
		n, rng := 0, ""
		if e.n > 1 {
			rng = tok(1)
			n = generateCount(rng)
		}
		switch {
		case n > s.lim.MaxGenerate:
			return &ZoneError{File: file, Line: e.line, Msg: fmt.Sprintf("$GENERATE %s makes %d records, more than %d a line (dns.zones.max_generate)",
				rng, n, s.lim.MaxGenerate)}
		case s.generated+n > s.lim.MaxGenerateTotal:
			return &ZoneError{File: file, Line: e.line, Msg: fmt.Sprintf("$GENERATE lines make more than %d records in the zone (dns.zones.max_generate_total)",
				s.lim.MaxGenerateTotal)}
		case len(s.pos.lines)+n > s.lim.MaxRecords:
			return s.tooMany(file, e.line)
		}
		s.generated += n
		s.pos.add(file, e.line, n)
	default:
		if len(s.pos.lines) >= s.lim.MaxRecords {
			return s.tooMany(file, e.line)
		}
		s.pos.add(file, e.line, 1)
	}
	return nil
}

func (s *scanner) tooMany(file string, line int) error {
	return &ZoneError{File: file, Line: line, Msg: fmt.Sprintf("more than %d records in the zone (dns.zones.max_records)", s.lim.MaxRecords)}
}

func (s *scanner) tooLarge(file string, line int) error {
	return &ZoneError{File: file, Line: line, Msg: fmt.Sprintf("the zone's files hold more than %d bytes (dns.zones.max_file_size)", s.lim.MaxFileSize)}
}

// generateCount is how many records "$GENERATE start-stop[/step] …" makes,
// given its range; 0 for a range the parser refuses.
func generateCount(rangeTok string) int {
	rng, stepStr, hasStep := strings.Cut(rangeTok, "/")
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

// entry is one logical line of a master file: its first tokens and the
// line the first token is on.
type entry struct {
	line int
	// tok are the byte ranges of the first three tokens in the text (see
	// token); n counts all of them.
	tok [3][2]int
	n   int
	// openLine and openCol are where the entry's "(" is that no ")"
	// closes: 0 when every "(" is closed.
	openLine, openCol int
}

// token returns the k-th token of e in s, the text e is from, as it is in
// the text (quotes and escapes kept: no byte of a token is dropped).
func (e *entry) token(s []byte, k int) string {
	return string(s[e.tok[k][0]:e.tok[k][1]])
}

// directive reports whether e starts with a "$" word.
func (e *entry) directive(s []byte) bool { return e.n > 0 && s[e.tok[0][0]] == '$' }

// eachEntry splits a master file into entries and calls f with each until
// it returns false: a newline ends an entry unless it is inside
// parentheses; ";" starts a comment outside quotes; backslash escapes the
// next character. It allocates nothing: tokens are byte ranges of s. The
// last entry is passed even when empty.
func eachEntry(s []byte, f func(*entry) bool) {
	var (
		cur     entry
		start   = -1 // of the token being read
		line    = 1
		bol     int // index of the first byte of the line
		paren   int
		quoted  bool
		comment bool
	)
	endTok := func(i int) {
		if start >= 0 {
			if cur.n < len(cur.tok) {
				cur.tok[cur.n] = [2]int{start, i}
			}
			cur.n++
			start = -1
		}
	}
	startTok := func(i int) {
		if start < 0 {
			start = i
			if cur.n == 0 {
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
			startTok(i)
			i++
			if s[i] == '\n' {
				line++
				bol = i + 1
			}
		case quoted:
			if c == '"' {
				quoted = false
			}
			if c == '\n' {
				line++
				bol = i + 1
			}
		case c == '"':
			startTok(i)
			quoted = true
		case c == ';':
			endTok(i)
			comment = true
		case c == '(':
			endTok(i)
			if paren == 0 {
				cur.openLine, cur.openCol = line, i-bol+1
			}
			paren++
		case c == ')':
			endTok(i)
			if paren > 0 {
				paren--
				if paren == 0 {
					cur.openLine, cur.openCol = 0, 0
				}
			}
		case c == '\n':
			endTok(i)
			line++
			bol = i + 1
			if paren == 0 {
				if !f(&cur) {
					return
				}
				cur = entry{}
			}
		case c == ' ' || c == '\t' || c == '\r':
			endTok(i)
		default:
			startTok(i)
		}
	}
	endTok(len(s))
	f(&cur)
}

// unclosedParen returns the line and column of the "(" of data that no
// ")" closes, or 0, 0.
func unclosedParen(data []byte) (line, col int) {
	var last entry
	eachEntry(data, func(e *entry) bool { last = *e; return true })
	return last.openLine, last.openCol
}
