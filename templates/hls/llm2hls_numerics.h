// llm2hls_numerics.h -- C++ counterparts of llm2hls/numerics.py used by every generated stage.
//
// A fixed-point value is held by the golden model as its raw two's-complement integer. Weights
// and other constants are stored in weights/*.h as plain C integers holding those raw values
// (g++ compiles plain integer tables instantly, ap_int initializers slowly) and read back into
// their ap_fixed / ap_int type with from_raw. Everything else is ordinary ap_fixed arithmetic:
// sums and products are exact, and assigning to a narrower type rounds and saturates exactly as
// numerics.convert does (AP_RND = round half up, AP_SAT = saturate).
#ifndef LLM2HLS_NUMERICS_H
#define LLM2HLS_NUMERICS_H

#include "ap_fixed.h"
#include "ap_int.h"
#include "hls_stream.h"

namespace llm2hls {

// The value of type T whose raw bits are the low T::width bits of `raw`.
template <typename T>
inline T from_raw(long long raw) {
#pragma HLS INLINE
    T v;
    v.range(T::width - 1, 0) = ap_int<T::width>(raw).range(T::width - 1, 0);
    return v;
}

// Field i of a word of B-bit fields (field i in bits [i*B, i*B + B)): packed off-chip weights
// (backends/hls/offchip.py); from_raw<T> of it gives the weight (sign from T).
template <int B, int W>
inline long long field(const ap_uint<W>& word, int i) {
#pragma HLS INLINE
    return ap_uint<B>(word.range(i * B + B - 1, i * B)).to_int64();
}

// The raw integer of a value of type T; RAW is ap_int<T::width> or ap_uint<T::width>.
template <typename RAW, typename T>
inline long long to_raw(const T& v) {
    RAW r;
    r.range(T::width - 1, 0) = v.range(T::width - 1, 0);
    return (long long)r;
}

// One stream transfer ("beat") of N elements of type T. A design compiled with --stream-width W
// gives a stream whose rows have C elements beats of gcd(W, C) elements (docs/architecture.md,
// "Stream width"); a stage reads or writes one beat per cycle and handles its N elements in
// parallel. Streams with one element per beat keep the plain element type.
template <typename T, int N>
struct beat {
    T v[N];
};

// Element j of the stream's current beat b; reads the next beat into b when j == 0 (a stage that
// consumes a beat one element per cycle, e.g. a linear's residual input).
template <typename T, int N>
inline T get_element(hls::stream<beat<T, N> >& s, beat<T, N>& b, int j) {
#pragma HLS INLINE
    if (j == 0) b = s.read();
    return b.v[j];
}

// Put x at element j of beat b and write b once its last element is in (one element per cycle).
template <typename T, int N, typename X>
inline void put_element(hls::stream<beat<T, N> >& s, beat<T, N>& b, int j, const X& x) {
#pragma HLS INLINE
    b.v[j] = x;
    if (j == N - 1) s.write(b);
}

}  // namespace llm2hls

#endif  // LLM2HLS_NUMERICS_H
