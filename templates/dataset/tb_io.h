// Testbench I/O helpers for dataset harnesses: values travel as raw two's-complement integers
// (the bit pattern of an ap_fixed / ap_int), so comparisons are bit-exact.
#pragma once
#include <ap_fixed.h>
#include <ap_int.h>
#include <cstdio>
#include <cstdlib>

template <typename T> inline long long to_raw(const T& v) { return (long long)v; }
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline long long to_raw(const ap_fixed<W, I, Q, O, N>& v) {
    ap_int<W> r; r.range(W - 1, 0) = v.range(W - 1, 0); return r.to_int64();
}
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline long long to_raw(const ap_ufixed<W, I, Q, O, N>& v) {
    ap_uint<W> r; r.range(W - 1, 0) = v.range(W - 1, 0); return (long long)r.to_uint64();
}
template <int W> inline long long to_raw(const ap_int<W>& v) { return v.to_int64(); }
template <int W> inline long long to_raw(const ap_uint<W>& v) { return (long long)v.to_uint64(); }

template <typename T> inline void from_raw(T& v, long long r) { v = (T)r; }
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline void from_raw(ap_fixed<W, I, Q, O, N>& v, long long r) { v.range(W - 1, 0) = ap_int<W>(r).range(W - 1, 0); }
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline void from_raw(ap_ufixed<W, I, Q, O, N>& v, long long r) { v.range(W - 1, 0) = ap_uint<W>(r).range(W - 1, 0); }
template <int W> inline void from_raw(ap_int<W>& v, long long r) { v = r; }
template <int W> inline void from_raw(ap_uint<W>& v, long long r) { v = r; }

inline long long next_int(FILE* f, const char* what) {
    long long r;
    if (fscanf(f, "%lld", &r) != 1) { fprintf(stderr, "HARNESS: data file ended while reading %s\n", what); exit(3); }
    return r;
}

// Compares one output element; reports the first mismatch and remembers that one happened.
inline void check(const char* port, long idx, long long got, long long exp, int* bad) {
    if (got != exp) {
        if (*bad == 0) printf("MISMATCH %s[%ld] got=%lld expected=%lld\n", port, idx, got, exp);
        (*bad)++;
    }
}
