//go:build !race

package proxy

import (
	"syscall"
	"unsafe"
)

// sysRead reads from fd into p (len(p) > 0) with a raw system call (see
// rawIO).
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), e
}

// sysWrite writes p (len(p) > 0) to fd with a raw system call (see
// rawIO).
func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), e
}
