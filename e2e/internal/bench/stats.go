package bench

import (
	"math"
	"slices"
)

// Distribution summarises a set of measurements (seconds or bytes).
type Distribution struct {
	N    int     `json:"n"`
	Min  float64 `json:"min"`
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Summarize computes nearest-rank percentiles: every figure reported is one
// that was actually measured (with fewer than 100 samples, p99 is the max).
func Summarize(values []float64) Distribution {
	if len(values) == 0 {
		return Distribution{}
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	sum := 0.0
	for _, v := range sorted {
		sum += v
	}
	return Distribution{
		N:    len(sorted),
		Min:  sorted[0],
		P50:  nearestRank(sorted, 0.50),
		P99:  nearestRank(sorted, 0.99),
		Max:  sorted[len(sorted)-1],
		Mean: sum / float64(len(sorted)),
	}
}

func nearestRank(sorted []float64, p float64) float64 {
	rank := int(math.Ceil(p * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
