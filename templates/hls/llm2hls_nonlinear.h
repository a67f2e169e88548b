// llm2hls_nonlinear.h -- C++ mirrors of the integer semantics of the nonlinear stages
// (act tables, layernorm, attention). Each helper matches one function of the Python golden
// model bit for bit; see docs/numerics-nonlinear.md. Everything is plain integer arithmetic on
// raw two's-complement values (int64 with widths proved below 2^62 by the compiler), plus the
// ap_fixed assignment that numerics.convert models.
#ifndef LLM2HLS_NONLINEAR_H
#define LLM2HLS_NONLINEAR_H

#include <cmath>  // float-mode stages: expf, erff, tanhf, sqrtf

#include "ap_fixed.h"
#include "ap_int.h"

namespace llm2hls {
namespace nl {

typedef long long i64;
typedef unsigned long long u64;

// Raw integer of a fixed-point / integer value (numerics: the int64 the reference holds).
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline i64 raw(const ap_fixed<W, I, Q, O, N>& x) {
    ap_int<W> r;
    r.range(W - 1, 0) = x.range(W - 1, 0);
    return r.to_int64();
}
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline i64 raw(const ap_ufixed<W, I, Q, O, N>& x) {
    ap_uint<W> r;
    r.range(W - 1, 0) = x.range(W - 1, 0);
    return (i64)r.to_uint64();
}
template <int W> inline i64 raw(const ap_int<W>& x) { return x.to_int64(); }
template <int W> inline i64 raw(const ap_uint<W>& x) { return (i64)x.to_uint64(); }

// numerics.convert(r, FRAC, OUT): the raw value r with FRAC fraction bits assigned to an OUT,
// i.e. rounded and overflow-handled by OUT's own ap_fixed modes.
template <typename OUT, int FRAC>
inline OUT from_raw(i64 r) {
#pragma HLS INLINE
    ap_fixed<64, 64 - FRAC, AP_TRN, AP_WRAP> t;
    t.range(63, 0) = (u64)r;
    return OUT(t);
}

// numerics.round_shift(v, sh, "RND") for 1 <= sh <= 62: divide by 2^sh, round half up.
inline i64 round_shift(i64 v, int sh) {
#pragma HLS INLINE
    return (v + (((i64)1) << (sh - 1))) >> sh;
}

// layernorm.bit_length: number of significant bits of v >= 0 (0 for 0).
inline int bit_length(u64 v) {
#pragma HLS INLINE
    int n = 0;
bits:
    for (int b = 0; b < 64; ++b) {
#pragma HLS UNROLL
        if ((v >> b) & 1) n = b + 1;
    }
    return n;
}

// numerics.isqrt: exact floor(sqrt(v)) for 0 <= v < 2^62 (digit by digit, 31 steps).
inline u64 isqrt(u64 v) {
    u64 rem = v, root = 0, bit = ((u64)1) << 60;
sqrt_step:
    for (int i = 0; i < 31; ++i) {
#pragma HLS PIPELINE II=1
        if (rem >= root + bit) {
            rem -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return root;
}

}  // namespace nl
}  // namespace llm2hls

#endif  // LLM2HLS_NONLINEAR_H
