package dnsserver

import (
	"hash/maphash"
	"math/bits"
	"strings"
)

// fastIndex is the fast path's map from the lower-case wire name of a query
// to its name's fastNode: an open-addressing table of indices into one
// slice of nodes, whose keys are the nodes' own names (the zone's strings),
// compared with the wire name byte for byte. A zone of a million names
// held 112 MB in a map[string]*fastNode with its keys packed beside the
// names (the map alone about 50 MB); this holds 56 MB (40 the nodes, 16
// the table) and builds in a fraction of the time.
//
// A name with a backslash in its text (an escape) is not its wire form
// label by label: those few are kept in a map by wire name.
type fastIndex struct {
	seed maphash.Seed
	// slots hold 1 + the index in nodes of the node whose wire name hashes
	// there (or was pushed there, linear probing) in the low 32 bits, the
	// high 32 bits of the hash in the high ones, 0 when empty; a power of
	// two (1<<bits) at least twice the names. A name's first slot is the
	// top bits of its hash, so that a slot's value says where it belongs
	// (finish) and a probe past another name seldom reads that name.
	slots []uint64
	bits  uint
	nodes []fastNode
	// pending are the slot values of the names added, not yet in slots.
	pending []uint64
	escaped map[string]*fastNode
}

// newFastIndex returns an index with room for n names.
func newFastIndex(n int) *fastIndex {
	b := uint(max(4, bits.Len(uint(2*n))))
	return &fastIndex{seed: maphash.MakeSeed(), slots: make([]uint64, 1<<b), bits: b,
		nodes: make([]fastNode, 0, n), pending: make([]uint64, 0, n)}
}

// add adds name (lower-case, fully qualified) under wire, its wire form,
// and returns its node for the caller to fill in; finish indexes the names
// added. A name added twice is its last node.
func (x *fastIndex) add(wire []byte, name string) *fastNode {
	x.nodes = append(x.nodes, fastNode{name: name})
	fn := &x.nodes[len(x.nodes)-1]
	if strings.IndexByte(name, '\\') >= 0 {
		if x.escaped == nil {
			x.escaped = make(map[string]*fastNode)
		}
		x.escaped[string(wire)] = fn
		return fn
	}
	x.pending = append(x.pending, maphash.Bytes(x.seed, wire)&^0xffffffff|uint64(len(x.nodes)))
	return fn
}

// finish puts the names added in their slots, in the order of the slots:
// a million names put in the order they came wrote a 16 MB table at random
// (a third of a second, a cache miss a name); sorted by their first slot
// first (a counting sort on its top bits, stable, so that the last of a
// name added twice wins), they fill it front to back.
func (x *fastIndex) finish() {
	const bucketBits = 12
	shift := 64 - min(bucketBits, x.bits)
	var count [1<<bucketBits + 1]int
	for _, v := range x.pending {
		count[v>>shift+1]++
	}
	for i := 1; i < len(count); i++ {
		count[i] += count[i-1]
	}
	sorted := make([]uint64, len(x.pending))
	for _, v := range x.pending {
		sorted[count[v>>shift]] = v
		count[v>>shift]++
	}
	x.pending = nil
	mask := uint64(len(x.slots) - 1)
	for _, v := range sorted {
		tag, name := v&^0xffffffff, x.nodes[uint32(v)-1].name
		for i := v >> (64 - x.bits); ; i = (i + 1) & mask {
			if s := x.slots[i]; s == 0 || s&^0xffffffff == tag && x.nodes[uint32(s)-1].name == name {
				x.slots[i] = v
				break
			}
		}
	}
}

// lookup returns the node of wire, a lower-case wire name; nil if none.
func (x *fastIndex) lookup(wire []byte) *fastNode {
	if x == nil {
		return nil
	}
	h := maphash.Bytes(x.seed, wire)
	tag, mask := h&^0xffffffff, uint64(len(x.slots)-1)
	for i := h >> (64 - x.bits); ; i = (i + 1) & mask {
		s := x.slots[i]
		if s == 0 {
			break
		}
		if s&^0xffffffff == tag {
			if fn := &x.nodes[uint32(s)-1]; wireIs(wire, fn.name) {
				return fn
			}
		}
	}
	if x.escaped != nil {
		return x.escaped[string(wire)]
	}
	return nil
}

// wireIs reports whether wire is the wire form of name, a fully qualified
// name without escapes whose labels are 1 to 63 bytes (a name
// dns.PackDomainName packs): its labels, each after its length, and the
// root's 0.
func wireIs(wire []byte, name string) bool {
	if name == "." {
		return len(wire) == 1 && wire[0] == 0
	}
	if len(wire) != len(name)+1 {
		return false
	}
	i, start := 0, 0 // the label's length byte in wire, its first byte in name
	for k := 0; k < len(name); k++ {
		if name[k] != '.' {
			continue
		}
		l := k - start
		if int(wire[i]) != l || string(wire[i+1:i+1+l]) != name[start:k] {
			return false
		}
		i += 1 + l
		start = k + 1
	}
	return wire[i] == 0
}
