package dnsserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsgConn owns a UDP socket that it reads and writes with recvmmsg and
// sendmmsg issued directly on its descriptor, as gdnsd and Knot do: nothing
// is allocated per datagram or per batch (golang.org/x/net's ReadBatch,
// which this replaces on Linux, allocates a net.UDPAddr and its IP for
// every datagram read, and takes its mmsghdrs from a sync.Pool per call).
//
// The socket is not in Go's netpoller itself: newMmsgConn takes a duplicate
// of the net.UDPConn's descriptor and closes the UDPConn, which removes the
// socket from the runtime's epoll set. The runtime registers every
// descriptor for writability too (EPOLLOUT, edge-triggered), and a UDP
// socket in such a set runs the set's wake-up callback each time the kernel
// frees a datagram it sent (on loopback, once per reply: the transmit frees
// it at once); with a spare P (cmd/aya spareP) an idle thread asleep in
// epoll_wait was woken by each, for nothing: 9% of the server's CPU in
// bench/dns geo_ecs (perf), with 34,000 epoll_waits a second. Instead the
// socket sits alone in an epoll set of its own, for reading only, and that
// set's descriptor, which is readable while the socket is, is what the
// netpoller watches (epoll sets nest): a reply sent runs no callback that
// wakes anyone, and an empty queue parks the reading goroutine as before.
//
// The alternative, a blocking recvmmsg in a normal system call, was
// measured and dropped: with both Ps idle, the runtime's sysmon sleeps
// deeply, and each return from the system call wakes it (a futex wake and
// two context switches per query at 5,000 queries/s: 57 µs of CPU per
// query against 41 µs through the netpoller, and a longer p99).
//
// Both system calls are raw (no entersyscall/exitsyscall): on the
// non-blocking socket neither sleeps, while a sendmmsg of a full batch on
// loopback takes tens of microseconds (the sender delivers to the
// receiver), long enough for sysmon to take the P away from a goroutine in
// a normal system call and hand it to another thread. A full send buffer
// waits in poll(2) for at most udpWriteWait, then the rest of the batch is
// dropped (clients retry).
//
// Close closes the epoll set through the netpoller, which wakes a parked
// reader; the socket is closed by whichever of Close and the reader comes
// last, so that its number is never reused under a system call still
// using it.
type mmsgConn struct {
	local netip.AddrPort

	// ep is the socket's own epoll set, in the netpoller; rc is its
	// RawConn, whose Read waits for the set to be readable.
	ep *os.File
	rc syscall.RawConn

	mu      sync.Mutex
	fd      int // the socket; -1 once closed
	serving bool
	closed  atomic.Bool

	// Results of the read callback, a method value made once so that
	// passing it to RawConn allocates nothing.
	n      int
	errno  syscall.Errno
	readFn func(uintptr) bool

	in    []unix.Mmsghdr
	out   []unix.Mmsghdr
	names []unix.RawSockaddrInet6 // the sources of in, the destinations of out
	iovIn []unix.Iovec
	ioOut []unix.Iovec
	bufs  [][]byte
}

// udpWriteWait is how long a batch of replies waits for room in a full
// send buffer before the rest of it is dropped.
const udpWriteWait = 100 * time.Millisecond

// newMmsgConn takes c's socket over: c is closed, the socket stays open.
func newMmsgConn(c *net.UDPConn) (*mmsgConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || derr != nil {
		_ = c.Close()
		return nil, fmt.Errorf("dup: %w", errors.Join(err, derr))
	}
	local := c.LocalAddr().(*net.UDPAddr).AddrPort()
	// Closing c takes the socket out of the netpoller's epoll set.
	if err := c.Close(); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	ep, err := readableSet(fd)
	if err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	rc, err = ep.SyscallConn()
	if err == nil && errors.Is(ep.SetReadDeadline(time.Time{}), os.ErrNoDeadline) {
		err = errors.New("epoll set not in the netpoller") // os.NewFile fell back to blocking
	}
	if err != nil {
		_ = ep.Close()
		_ = unix.Close(fd)
		return nil, err
	}
	b := &mmsgConn{
		local: local,
		ep:    ep,
		rc:    rc,
		fd:    fd,
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
	return b, nil
}

// readableSet returns a new epoll set, in the netpoller, that holds fd for
// reading only: it is readable while fd is.
func readableSet(fd int) (*os.File, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	// Non-blocking, os.NewFile puts the set in the netpoller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("epoll set non-blocking: %w", err)
	}
	return os.NewFile(uintptr(epfd), "udp-epoll"), nil
}

// localAddr is the address the socket is bound to.
func (b *mmsgConn) localAddr() netip.AddrPort { return b.local }

// serve reports whether the socket is still open, and if so makes the
// caller its reader until done.
func (b *mmsgConn) serve() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fd < 0 || b.serving {
		return false
	}
	b.serving = true
	return true
}

// done ends the reader's use of the descriptor, closing it if Close came
// first.
func (b *mmsgConn) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.serving = false
	if b.closed.Load() && b.fd >= 0 {
		_ = unix.Close(b.fd)
		b.fd = -1
	}
}

// Close stops the socket: a parked reader wakes and gets net.ErrClosed;
// the socket is closed now, or by the reader when it stops.
func (b *mmsgConn) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Swap(true) || b.fd < 0 {
		return nil
	}
	err := b.ep.Close()
	if !b.serving {
		err = errors.Join(err, unix.Close(b.fd))
		b.fd = -1
	}
	return err
}

// readOnce is the RawConn.Read callback: one non-blocking recvmmsg on the
// socket (the descriptor given is the epoll set's); false (wait until the
// set is readable) when the queue is empty.
func (b *mmsgConn) readOnce(uintptr) bool {
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(b.fd),
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
// most udpBatch); net.ErrClosed once the socket is closed. Only the reader
// (serve) calls it.
func (b *mmsgConn) read() (int, error) {
	for i := range b.in {
		b.in[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		b.in[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		b.in[i].Hdr.Flags = 0
	}
	err := b.rc.Read(b.readFn)
	if b.closed.Load() {
		return 0, net.ErrClosed // the set is closed: so is the socket
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errUDPWait, err)
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

// flush sends the k staged replies; the error is net.ErrClosed once the
// socket is closed, else the last refusal (replies after it were sent).
// A reply the kernel refuses (no route, a closed port's error queued) is
// skipped: its client retries.
func (b *mmsgConn) flush(k int) error {
	var last error
	waited := false
	for sent := 0; sent < k; {
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(b.fd),
			uintptr(unsafe.Pointer(&b.out[sent])), uintptr(k-sent), unix.MSG_DONTWAIT, 0, 0)
		switch {
		case b.closed.Load():
			return net.ErrClosed
		case errno == 0:
			sent += int(n)
		case errno == unix.EINTR:
		case errno == unix.EAGAIN:
			// A full send buffer: wait for room once per batch, then drop.
			if waited || !b.writable() {
				return fmt.Errorf("send buffer full: %d of %d replies dropped", k-sent, k)
			}
			waited = true
		default:
			last = errno
			sent++
		}
	}
	return last
}

// writable waits up to udpWriteWait for room in the send buffer.
func (b *mmsgConn) writable() bool {
	fds := []unix.PollFd{{Fd: int32(b.fd), Events: unix.POLLOUT}}
	for {
		n, err := unix.Poll(fds, int(udpWriteWait/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0 && fds[0].Revents&unix.POLLOUT != 0
	}
}

// udpIO is the batch reader and writer of serveUDP.
type udpIO = mmsgConn

func newUDPIO(c *net.UDPConn) (*udpIO, error) { return newMmsgConn(c) }
