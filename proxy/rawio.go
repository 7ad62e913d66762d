package proxy

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// rawIO reads and writes a TCP connection's non-blocking socket with raw
// system calls (syscall.RawSyscall) through its syscall.RawConn, which
// keeps the connection's deadlines and its wait on the poller. A call on
// a non-blocking socket never blocks, so it need not tell the scheduler
// that it may (entersyscall): a write on loopback, which delivers the data
// to the receiver and wakes it, is often descheduled in the kernel long
// enough for the runtime's monitor to hand the P to another thread, which
// then hands it back, two thread wake-ups a time and a monitor that stays
// awake. Reads and writes are each serialized (a net.Conn may be used from
// several goroutines); the functions given to RawConn are made once per
// connection, so a call allocates nothing. Under the race detector the
// calls are syscall.Read and syscall.Write (rawio_race.go), whose
// annotations tell it that bytes written to a socket and read from another
// order the goroutines.
type rawIO struct {
	rc syscall.RawConn

	rmu   sync.Mutex
	rbuf  []byte
	rn    int
	rerr  syscall.Errno
	readF func(fd uintptr) bool

	wmu    sync.Mutex
	wbuf   []byte
	wn     int
	werr   syscall.Errno
	writeF func(fd uintptr) bool
}

// newRawIO returns the raw I/O of c, or nil when c is not a TCP
// connection (tests' pipes, wrapped connections).
func newRawIO(c net.Conn) *rawIO {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawIO{rc: rc}
	r.readF = r.readFD
	r.writeF = r.writeFD
	return r
}

// readFD is one try of a read: false asks RawConn to wait until the
// socket is readable (or the read deadline passes).
func (r *rawIO) readFD(fd uintptr) bool {
	for {
		n, e := sysRead(fd, r.rbuf)
		switch e {
		case 0:
			r.rn = n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		r.rerr = e
		return true
	}
}

// writeFD writes what is left of wbuf; false asks RawConn to wait until
// the socket is writable (or the write deadline passes).
func (r *rawIO) writeFD(fd uintptr) bool {
	for r.wn < len(r.wbuf) {
		p := r.wbuf[r.wn:]
		n, e := sysWrite(fd, p)
		switch e {
		case 0:
			r.wn += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			r.werr = e
			return true
		}
	}
	return true
}

// read implements net.Conn's Read: 0 bytes and io.EOF at the end of the
// stream.
func (r *rawIO) read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	r.rmu.Lock()
	defer r.rmu.Unlock()
	r.rbuf, r.rn, r.rerr = b, 0, 0
	err := r.rc.Read(r.readF)
	n, e := r.rn, r.rerr
	r.rbuf = nil
	switch {
	case err != nil:
		return 0, err
	case e != 0:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", e)}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// write implements net.Conn's Write: all of b, or an error.
func (r *rawIO) write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.wbuf, r.wn, r.werr = b, 0, 0
	err := r.rc.Write(r.writeF)
	n, e := r.wn, r.werr
	r.wbuf = nil
	switch {
	case err != nil:
		return n, err
	case e != 0:
		return n, &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", e)}
	}
	return n, nil
}
