package balance

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func backends(weights ...int) []Backend {
	out := make([]Backend, len(weights))
	for i, w := range weights {
		out[i] = Backend{Name: fmt.Sprintf("b%d", i), Weight: w}
	}
	return out
}

func mustNew(tb testing.TB, algorithm string, bs []Backend) Balancer {
	tb.Helper()
	b, err := New(algorithm, bs)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name      string
		algorithm string
		backends  []Backend
		want      string
	}{
		{"unknown algorithm", "fastest", backends(1), `unknown algorithm "fastest"`},
		{"no backends", RoundRobin, nil, "no backends"},
		{"duplicate", RoundRobin, []Backend{{Name: "a", Weight: 1}, {Name: "a", Weight: 1}}, `"a": duplicate name`},
		{"empty name", RoundRobin, []Backend{{Weight: 1}}, "empty name"},
		{"weight 0", Random, []Backend{{Name: "a"}}, "weight 0 must be at least 1"},
		{"negative max conns", LeastConn, []Backend{{Name: "a", Weight: 1, MaxConns: -1}}, "must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.algorithm, tc.backends)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error with %q", err, tc.want)
			}
		})
	}
	for _, a := range Algorithms {
		if _, err := New(a, backends(1, 2)); err != nil {
			t.Errorf("New(%s): %v", a, err)
		}
	}
}

// TestDistribution checks that 100k picks split by effective weight
// (weight × scale) within 2 percentage points. hold keeps every request in
// flight, which is what lets the least-conn algorithms see the load.
func TestDistribution(t *testing.T) {
	const picks = 100_000
	tests := []struct {
		algorithm string
		weights   []int
		scales    []float64
		hold      bool
	}{
		{RoundRobin, []int{1, 1, 1}, nil, false},
		{WeightedRoundRobin, []int{5, 3, 2}, nil, false},
		{WeightedRoundRobin, []int{1, 1, 1}, []float64{0.2, 1, 1}, false},
		{LeastConn, []int{1, 1, 1, 1}, nil, true},
		{WeightedLeastConn, []int{5, 3, 2}, nil, true},
		{WeightedLeastConn, []int{2, 2}, []float64{0.5, 1}, true},
		{Random, []int{5, 3, 2}, nil, false},
		{Random, []int{1, 1, 1}, []float64{0.2, 1, 1}, false},
		{LeastTime, []int{5, 3, 2}, nil, true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%v/%v", tc.algorithm, tc.weights, tc.scales), func(t *testing.T) {
			b := mustNew(t, tc.algorithm, backends(tc.weights...))
			want := make([]float64, len(tc.weights))
			sum := 0.0
			for i, w := range tc.weights {
				want[i] = float64(w)
				if tc.scales != nil {
					b.SetScale(i, tc.scales[i])
					want[i] *= tc.scales[i]
				}
				sum += want[i]
			}
			got := make([]int, len(tc.weights))
			for range picks {
				i := b.Pick(nil, nil)
				got[i]++
				if tc.hold {
					b.Start(i)
				}
			}
			for i := range got {
				share, wantShare := float64(got[i])/picks, want[i]/sum
				if math.Abs(share-wantShare) > 0.02 {
					t.Errorf("backend %d: share %.4f, want %.4f ± 0.02 (counts %v)", i, share, wantShare, got)
				}
			}
		})
	}
}

func TestRoundRobinCycle(t *testing.T) {
	b := mustNew(t, RoundRobin, backends(1, 1, 1))
	var got []int
	for range 9 {
		got = append(got, b.Pick(nil, nil))
	}
	if want := []int{0, 1, 2, 0, 1, 2, 0, 1, 2}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("picks %v, want %v", got, want)
	}
	b.SetUp(1, false)
	got = got[:0]
	for range 4 {
		got = append(got, b.Pick(nil, nil))
	}
	for _, i := range got {
		if i == 1 {
			t.Fatalf("picks %v include the down backend 1", got)
		}
	}
}

// TestSmoothWeightedSequence pins nginx's sequence for weights 5, 1, 1.
func TestSmoothWeightedSequence(t *testing.T) {
	b := mustNew(t, WeightedRoundRobin, backends(5, 1, 1))
	var got []int
	for range 14 {
		got = append(got, b.Pick(nil, nil))
	}
	want := []int{0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("picks %v, want %v", got, want)
	}
}

func TestLeastConnPrefersFewer(t *testing.T) {
	for _, a := range []string{LeastConn, WeightedLeastConn} {
		t.Run(a, func(t *testing.T) {
			b := mustNew(t, a, backends(1, 1, 1))
			for range 3 {
				b.Start(0)
				b.Start(2)
			}
			b.Start(1)
			for range 10 {
				if i := b.Pick(nil, nil); i != 1 {
					t.Fatalf("Pick = %d, want 1 (in flight 3, 1, 3)", i)
				}
			}
			b.Done(1, time.Millisecond, true)
			b.Done(0, time.Millisecond, true)
			b.Done(0, time.Millisecond, true) // 1, 0, 3
			if i := b.Pick(nil, nil); i != 1 {
				t.Fatalf("Pick = %d, want 1 (in flight 1, 0, 3)", i)
			}
		})
	}
	// Weighted: 4 in flight on weight 4 beats 2 on weight 1.
	b := mustNew(t, WeightedLeastConn, backends(4, 1))
	for range 4 {
		b.Start(0)
	}
	b.Start(1)
	b.Start(1)
	if i := b.Pick(nil, nil); i != 0 {
		t.Fatalf("Pick = %d, want 0 (4/4 < 2/1)", i)
	}
}

func TestLeastConnTiesRoundRobin(t *testing.T) {
	b := mustNew(t, LeastConn, backends(1, 1, 1))
	seen := map[int]int{}
	for range 30 {
		seen[b.Pick(nil, nil)]++
	}
	for i := range 3 {
		if seen[i] != 10 {
			t.Fatalf("idle picks %v, want 10 each", seen)
		}
	}
}

// TestHashMovement checks that keys stick, that marking one of 5 backends
// down moves only its keys (about 1/5 of them), that a scale moves none,
// and that all come back when it is up.
func TestHashMovement(t *testing.T) {
	const keys = 10_000
	keyOf := map[string]func(int) []byte{
		IPHash: func(k int) []byte {
			a := netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)})
			return a.AsSlice()
		},
		ConsistentHash: func(k int) []byte { return fmt.Appendf(nil, "session-%d", k) },
	}
	for _, a := range []string{IPHash, ConsistentHash} {
		t.Run(a, func(t *testing.T) {
			b := mustNew(t, a, backends(1, 1, 1, 1, 1))
			before := make([]int, keys)
			counts := make([]int, 5)
			for k := range keys {
				before[k] = b.Pick(keyOf[a](k), nil)
				counts[before[k]]++
				if again := b.Pick(keyOf[a](k), nil); again != before[k] {
					t.Fatalf("key %d: %d then %d", k, before[k], again)
				}
			}
			t.Logf("keys per backend: %v", counts)
			for i, c := range counts {
				if c < keys/5*7/10 || c > keys/5*13/10 {
					t.Errorf("backend %d has %d keys, want %d ± 30%%", i, c, keys/5)
				}
			}

			b.SetScale(1, 0.1)
			b.SetUp(2, false)
			moved := 0
			for k := range keys {
				got := b.Pick(keyOf[a](k), nil)
				switch {
				case before[k] == 2 && got == 2:
					t.Fatalf("key %d still on the down backend", k)
				case before[k] != 2 && got != before[k]:
					t.Fatalf("key %d moved from %d to %d; only backend 2's keys may move", k, before[k], got)
				case got != before[k]:
					moved++
				}
			}
			if limit := keys/5 + keys*2/100; moved > limit {
				t.Errorf("%d keys moved, want at most %d", moved, limit)
			}
			t.Logf("%d of %d keys moved", moved, keys)

			b.SetUp(2, true)
			for k := range keys {
				if got := b.Pick(keyOf[a](k), nil); got != before[k] {
					t.Fatalf("key %d on %d after backend 2 came back, want %d", k, got, before[k])
				}
			}
		})
	}
}

func TestHashWeights(t *testing.T) {
	b := mustNew(t, ConsistentHash, backends(3, 1))
	n := 0
	for k := range 10_000 {
		if b.Pick(fmt.Appendf(nil, "k%d", k), nil) == 0 {
			n++
		}
	}
	if n < 7000 || n > 8000 {
		t.Fatalf("weight 3 of 4 got %d of 10000 keys, want ~7500", n)
	}
}

func TestLeastTimeShiftsFromSlow(t *testing.T) {
	b := mustNew(t, LeastTime, backends(1, 1, 1))
	latency := []time.Duration{100 * time.Millisecond, 10 * time.Millisecond, 12 * time.Millisecond}
	got := make([]int, 3)
	for range 10_000 {
		i := b.Pick(nil, nil)
		got[i]++
		b.Start(i)
		b.Done(i, latency[i], true)
	}
	if share := float64(got[0]) / 10_000; share > 0.05 {
		t.Errorf("slow backend got %.3f of the picks (%v), want < 0.05", share, got)
	}
	t.Logf("picks %v", got)

	// Unknown latency is optimistic: a backend never measured is preferred.
	b = mustNew(t, LeastTime, backends(1, 1))
	b.Start(0)
	b.Done(0, time.Millisecond, true)
	for range 10 {
		if i := b.Pick(nil, nil); i != 1 {
			t.Fatalf("Pick = %d, want the unmeasured backend 1", i)
		}
	}

	// A fast failure does not make a backend look faster.
	b = mustNew(t, LeastTime, backends(1, 1))
	b.Start(0)
	b.Done(0, 50*time.Millisecond, true)
	b.Start(1)
	b.Done(1, 10*time.Millisecond, true)
	for range 20 {
		b.Start(1)
		b.Done(1, time.Microsecond, false)
	}
	if i := b.Pick(nil, nil); i != 1 {
		t.Fatalf("Pick = %d, want 1 (10ms, failures do not lower it)", i)
	}
	lt := b.(*leastTime)
	if e := math.Float64frombits(lt.st[1].ewma.Load()); e != float64(10*time.Millisecond) {
		t.Fatalf("EWMA after fast failures = %v, want 10ms", time.Duration(e))
	}
}

func TestEveryAlgorithm(t *testing.T) {
	for _, a := range Algorithms {
		t.Run(a, func(t *testing.T) {
			t.Run("all down", func(t *testing.T) {
				b := mustNew(t, a, backends(1, 2, 3))
				for i := range 3 {
					b.SetUp(i, false)
				}
				if i := b.Pick([]byte("k"), nil); i != -1 {
					t.Fatalf("Pick = %d, want -1", i)
				}
				if i := b.Pick([]byte("k"), []int{0, 1}); i != -1 {
					t.Fatalf("Pick with tried = %d, want -1", i)
				}
				b.SetUp(1, true)
				if i := b.Pick([]byte("k"), nil); i != 1 {
					t.Fatalf("Pick = %d, want the one up, 1", i)
				}
			})
			t.Run("tried", func(t *testing.T) {
				b := mustNew(t, a, backends(1, 1, 1))
				for k := range 50 {
					key := fmt.Appendf(nil, "%d", k)
					first := b.Pick(key, nil)
					second := b.Pick(key, []int{first})
					if second == first || second < 0 {
						t.Fatalf("retry picked %d after %d", second, first)
					}
					third := b.Pick(key, []int{first, second})
					if third == first || third == second || third < 0 {
						t.Fatalf("third try picked %d after %d, %d", third, first, second)
					}
					if i := b.Pick(key, []int{0, 1, 2}); i < 0 {
						t.Fatalf("all tried: Pick = -1, want a tried one again")
					}
				}
				b.SetUp(0, false)
				b.SetUp(1, false)
				if i := b.Pick(nil, []int{2}); i != 2 {
					t.Fatalf("only a tried backend up: Pick = %d, want 2", i)
				}
			})
			t.Run("max conns", func(t *testing.T) {
				bs := backends(1, 1)
				bs[0].MaxConns = 1
				b := mustNew(t, a, bs)
				b.Start(0)
				for k := range 20 {
					if i := b.Pick(fmt.Appendf(nil, "%d", k), nil); i != 1 {
						t.Fatalf("Pick = %d, want 1: 0 is at its cap", i)
					}
				}
				if b.Usable(0) || !b.Usable(1) {
					t.Fatalf("Usable = %v, %v, want false, true", b.Usable(0), b.Usable(1))
				}
				if b.TryStart(0) {
					t.Fatal("TryStart(0) at its cap succeeded")
				}
				b.Done(0, time.Millisecond, true)
				if !b.Usable(0) || !b.TryStart(0) || b.InFlight(0) != 1 {
					t.Fatal("TryStart(0) under its cap failed")
				}
			})
		})
	}
}

// TestMaxConnsConcurrent runs requests from many goroutines through Pick
// and TryStart and checks that no backend ever has more than MaxConns in
// flight (run it with -race).
func TestMaxConnsConcurrent(t *testing.T) {
	for _, a := range Algorithms {
		t.Run(a, func(t *testing.T) {
			bs := backends(1, 2, 3)
			for i := range bs {
				bs[i].MaxConns = 2
			}
			b := mustNew(t, a, bs)
			var peak [3]atomic.Int64
			var served, refused atomic.Int64
			var wg sync.WaitGroup
			for g := range 16 {
				wg.Go(func() {
					key := fmt.Appendf(nil, "client-%d", g)
					for range 500 {
						var tried [3]int
						n, i := 0, -1
						for {
							i = b.Pick(key, tried[:n])
							if i < 0 || b.TryStart(i) {
								break
							}
							if n < len(tried) {
								tried[n], n = i, n+1
							}
						}
						if i < 0 {
							refused.Add(1)
							continue
						}
						cur := b.InFlight(i)
						for p := peak[i].Load(); cur > p; p = peak[i].Load() {
							if peak[i].CompareAndSwap(p, cur) {
								break
							}
						}
						served.Add(1)
						b.Done(i, time.Microsecond, true)
					}
				})
			}
			wg.Wait()
			for i := range peak {
				if p := peak[i].Load(); p > 2 {
					t.Errorf("backend %d had %d in flight, cap 2", i, p)
				}
				if n := b.InFlight(i); n != 0 {
					t.Errorf("backend %d: %d in flight after all done", i, n)
				}
			}
			if served.Load() == 0 {
				t.Error("nothing served")
			}
		})
	}
}

// TestConcurrentUse races every method against each other (for -race).
func TestConcurrentUse(t *testing.T) {
	for _, a := range Algorithms {
		t.Run(a, func(t *testing.T) {
			b := mustNew(t, a, backends(1, 2, 3, 4))
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for k := range 1000 {
						switch g {
						case 0:
							b.SetUp(k%4, k%3 != 0)
						case 1:
							b.SetScale(k%4, float64(k%10+1)/10)
						default:
							if i := b.Pick([]byte{byte(k)}, []int{k % 4}); i >= 0 {
								b.Start(i)
								b.Usable(i)
								b.Done(i, time.Duration(k)*time.Microsecond, k%7 != 0)
							}
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	for _, a := range Algorithms {
		t.Run(a, func(t *testing.T) {
			b := mustNew(t, a, backends(1, 2, 3, 4))
			b.SetScale(1, 0.5)
			b.SetUp(3, false)
			key, tried := []byte("10.0.0.1"), []int{0}
			if n := testing.AllocsPerRun(1000, func() { b.Pick(key, tried) }); n != 0 {
				t.Fatalf("Pick allocates %v times", n)
			}
		})
	}
}

func TestSetScaleClamps(t *testing.T) {
	b := mustNew(t, Random, backends(1, 1)).(*random)
	for _, s := range []float64{0, -1, math.NaN(), 2} {
		b.SetScale(0, s)
		if got := b.scale(0); got < 0.01 || got > 1 {
			t.Errorf("SetScale(%v): scale %v, want within [0.01, 1]", s, got)
		}
	}
}

func BenchmarkPick(b *testing.B) {
	for _, a := range Algorithms {
		b.Run(a, func(b *testing.B) {
			bl := mustNew(b, a, backends(1, 2, 3, 4, 5, 6, 7, 8))
			key := []byte("203.0.113.7")
			b.ReportAllocs()
			for b.Loop() {
				i := bl.Pick(key, nil)
				bl.Start(i)
				bl.Done(i, time.Millisecond, true)
			}
		})
	}
}

func BenchmarkPickParallel(b *testing.B) {
	for _, a := range Algorithms {
		b.Run(a, func(b *testing.B) {
			bl := mustNew(b, a, backends(1, 2, 3, 4, 5, 6, 7, 8))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				key := []byte("203.0.113.7")
				for pb.Next() {
					i := bl.Pick(key, nil)
					bl.Start(i)
					bl.Done(i, time.Millisecond, true)
				}
			})
		})
	}
}
