package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Applied is whether one member's state shows a change: Err is why it
// does not (the member did not answer, or has not applied it yet).
type Applied struct {
	ID    string
	Admin string // its admin API address; "" when none is known
	OK    bool
	Err   string
}

// WaitApplied asks every member of st (the status of one node: its members
// and their admin addresses) for its status, every poll, until done holds
// for the member's view or ctx ends, and returns each member's result in
// ID order. A member without a known admin address is not asked.
func (c *Client) WaitApplied(ctx context.Context, st *StatusResponse, done func(View) bool, poll time.Duration) []Applied {
	out := make([]Applied, len(st.Node.Members))
	var wg sync.WaitGroup
	for i, m := range st.Node.Members {
		a := &out[i]
		a.ID, a.Admin = m.ID, st.View.Admins[m.ID]
		if a.Admin == "" {
			a.Err = "no admin address known"
			continue
		}
		a.Err = "no answer"
		wg.Go(func() {
			for {
				var ms StatusResponse
				cctx, cancel := context.WithTimeout(ctx, max(poll, 2*time.Second))
				err := c.Do(cctx, a.Admin, PathStatus, "", nil, &ms)
				cancel()
				switch {
				case err == nil && done(ms.View):
					a.OK, a.Err = true, ""
					return
				case err == nil:
					a.Err = "not applied yet, at index " + strconv.FormatUint(ms.View.Index, 10)
				case ctx.Err() == nil:
					a.Err = errReason(err)
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(poll):
				}
			}
		})
	}
	wg.Wait()
	slices.SortFunc(out, func(x, y Applied) int { return strings.Compare(x.ID, y.ID) })
	return out
}

// errReason is err of a status call in few words: the transport's error
// without the URL, or the API's message.
func errReason(err error) string {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err.Error()
	}
	if ae, ok := errors.AsType[*APIError](err); ok {
		return fmt.Sprintf("%d %s", ae.Status, ae.Msg)
	}
	return err.Error()
}
