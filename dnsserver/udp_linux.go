package dnsserver

import (
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsgConn reads and writes a UDP socket with recvmmsg/sendmmsg issued
// directly on its descriptor, inside RawConn.Read and RawConn.Write: the
// descriptor stays non-blocking and registered with Go's netpoller (a read
// that finds the queue empty parks the goroutine until the socket is
// readable, and Close wakes it with net.ErrClosed), but nothing is
// allocated per datagram or per batch. golang.org/x/net's ReadBatch, which
// this replaces on Linux, allocates a net.UDPAddr and its IP for every
// datagram read, and takes its mmsghdrs from a sync.Pool per call.
//
// The system calls are raw (no entersyscall/exitsyscall): on a
// non-blocking socket neither call sleeps, while a sendmmsg of a full
// batch on loopback takes tens of microseconds (the sender delivers to the
// receiver), long enough for the runtime's sysmon to take the P away from
// a goroutine in a normal system call and hand it to another thread, which
// with GOMAXPROCS=1 costs futex wake-ups and a thread switch per batch.
type mmsgConn struct {
	rc    syscall.RawConn
	in    []unix.Mmsghdr
	out   []unix.Mmsghdr
	names []unix.RawSockaddrInet6 // the sources of in, the destinations of out
	iovIn []unix.Iovec
	ioOut []unix.Iovec
	bufs  [][]byte

	// Results of the callbacks; the callbacks are method values made once,
	// so that passing them to RawConn allocates nothing.
	n, sent, todo int
	errno         syscall.Errno
	readFn        func(fd uintptr) bool
	writeFn       func(fd uintptr) bool
}

func newMmsgConn(c *net.UDPConn) (*mmsgConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &mmsgConn{
		rc:    rc,
		in:    make([]unix.Mmsghdr, udpBatch),
		out:   make([]unix.Mmsghdr, udpBatch),
		names: make([]unix.RawSockaddrInet6, udpBatch),
		iovIn: make([]unix.Iovec, udpBatch),
		ioOut: make([]unix.Iovec, udpBatch),
		bufs:  make([][]byte, udpBatch),
	}
	for i := range b.in {
		b.bufs[i] = make([]byte, udpReadSize)
		b.iovIn[i].Base = &b.bufs[i][0]
		b.iovIn[i].SetLen(udpReadSize)
		b.in[i].Hdr.Iov = &b.iovIn[i]
		b.in[i].Hdr.SetIovlen(1)
	}
	b.readFn = b.readOnce
	b.writeFn = b.writeOnce
	return b, nil
}

// readOnce is the RawConn.Read callback: one non-blocking recvmmsg; false
// (wait for the socket to be readable) when the queue is empty.
func (b *mmsgConn) readOnce(fd uintptr) bool {
	for i := range b.in {
		b.in[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.in[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		b.in[i].Hdr.Flags = 0
	}
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd,
			uintptr(unsafe.Pointer(&b.in[0])), uintptr(len(b.in)), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			b.n, b.errno = int(n), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		b.n, b.errno = 0, errno
		return true
	}
}

// read waits for at least one datagram and returns how many it read (at
// most udpBatch); net.ErrClosed once the socket is closed.
func (b *mmsgConn) read() (int, error) {
	if err := b.rc.Read(b.readFn); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, b.errno
	}
	return b.n, nil
}

// request is the payload of datagram i of the last read.
func (b *mmsgConn) request(i int) []byte {
	return b.bufs[i][:b.in[i].Len]
}

// source is the address datagram i of the last read came from (an IPv6
// socket's IPv4 clients as IPv4-mapped addresses, as net.UDPAddr has them).
func (b *mmsgConn) source(i int) (netip.Addr, bool) {
	sa := &b.names[i]
	switch {
	case sa.Family == unix.AF_INET && b.in[i].Hdr.Namelen >= unix.SizeofSockaddrInet4:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrFrom4(sa4.Addr), true
	case sa.Family == unix.AF_INET6 && b.in[i].Hdr.Namelen >= unix.SizeofSockaddrInet6:
		return netip.AddrFrom16(sa.Addr), true
	}
	return netip.Addr{}, false
}

// stage makes reply the k-th datagram of the next flush, sent back to the
// source of datagram i of the last read.
func (b *mmsgConn) stage(k, i int, reply []byte) {
	b.ioOut[k].Base = unsafe.SliceData(reply)
	b.ioOut[k].SetLen(len(reply))
	b.out[k].Hdr.Iov = &b.ioOut[k]
	b.out[k].Hdr.SetIovlen(1)
	b.out[k].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
	b.out[k].Hdr.Namelen = b.in[i].Hdr.Namelen
}

// writeOnce is the RawConn.Write callback: sendmmsg of the staged replies
// from b.sent on; false (wait until writable) on a full send buffer. A
// reply the kernel refuses otherwise (no route, a closed port's error
// queued) is skipped: its client retries.
func (b *mmsgConn) writeOnce(fd uintptr) bool {
	for b.sent < b.todo {
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd,
			uintptr(unsafe.Pointer(&b.out[b.sent])), uintptr(b.todo-b.sent), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			b.sent += int(n)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		case unix.EBADF:
			b.errno = errno
			return true
		default:
			b.errno = errno
			b.sent++
		}
	}
	return true
}

// flush sends the k staged replies; the error is net.ErrClosed once the
// socket is closed, else the last refusal (replies after it were sent).
func (b *mmsgConn) flush(k int) error {
	b.sent, b.todo, b.errno = 0, k, 0
	if err := b.rc.Write(b.writeFn); err != nil {
		return err
	}
	if b.errno != 0 {
		return b.errno
	}
	return nil
}

// udpIO is the batch reader and writer of serveUDP.
type udpIO = mmsgConn

func newUDPIO(c *net.UDPConn) (*udpIO, error) { return newMmsgConn(c) }
