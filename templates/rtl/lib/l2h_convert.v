// l2h_convert: combinational fixed-point conversion, the Verilog twin of
// llm2hls.numerics.convert (= assigning a wider ap_fixed to a narrower one):
// first drop SHIFT fraction bits with the rounding mode ROUND, then bring the
// value into OW bits with the overflow mode OVF.
//   ROUND: 0 TRN (floor), 1 RND (half up), 2 RND_CONV (half to even), 3 RND_ZERO (half toward 0)
//   OVF:   0 SAT, 1 WRAP, 2 SAT_SYM
// SHIFT = from_frac - to_frac; SHIFT <= 0 is an exact left shift.
module l2h_convert #(
    parameter integer IW = 16,     // input width
    parameter integer IS = 1,      // input is signed
    parameter integer SHIFT = 0,   // fraction bits dropped (negative: added)
    parameter integer OW = 16,     // output width
    parameter integer OS = 1,      // output is signed
    parameter integer ROUND = 1,
    parameter integer OVF = 0
) (
    input  wire [IW-1:0] din,
    output wire [OW-1:0] dout
);
    localparam integer LSH = (SHIFT < 0) ? -SHIFT : 0;
    localparam integer RSH = (SHIFT > 0) ? SHIFT : 0;
    // One working width holds the sign-extended input after the left shift, the
    // dropped bits beside the floor, the rounding carry and the saturation bounds.
    localparam integer FW0 = IW + 2 + LSH;
    localparam integer FW1 = (FW0 > RSH + 2) ? FW0 : RSH + 2;
    localparam integer FW = (FW1 > OW + 2) ? FW1 : OW + 2;

    wire sign_in = (IS != 0) & din[IW-1];
    wire signed [FW-1:0] x = $signed({{(FW-IW){sign_in}}, din}) <<< LSH;

    wire signed [FW-1:0] rounded;
    generate
        if (RSH == 0) begin : g_exact
            assign rounded = x;
        end else begin : g_round
            wire signed [FW-1:0] floor_v = x >>> RSH;
            // dropped bits: the top one says ">= half", the others "more than exactly half"
            wire low_any;
            if (RSH == 1) begin : g_one
                assign low_any = 1'b0;
            end else begin : g_more
                assign low_any = |x[RSH-2:0];
            end
            wire above = x[RSH-1] & low_any;
            wire tie = x[RSH-1] & ~low_any;
            wire up = (ROUND == 0) ? 1'b0 :
                      (ROUND == 1) ? (above | tie) :
                      (ROUND == 2) ? (above | (tie & floor_v[0])) :
                                     (above | (tie & x[FW-1]));
            assign rounded = floor_v + {{(FW-1){1'b0}}, up};
        end
    endgenerate

    // Saturation bounds of the output type, written out in FW bits.
    localparam [FW-1:0] MAXV = (OS != 0) ? {{(FW-OW+1){1'b0}}, {(OW-1){1'b1}}}
                                         : {{(FW-OW){1'b0}}, {OW{1'b1}}};
    localparam [FW-1:0] MINV = (OS == 0) ? {FW{1'b0}}
                             : (OVF == 2) ? ~MAXV + 1'b1
                                          : {{(FW-OW+1){1'b1}}, {(OW-1){1'b0}}};
    wire too_big = rounded > $signed(MAXV);
    wire too_small = rounded < $signed(MINV);
    /* verilator lint_off UNUSEDSIGNAL */
    // WRAP keeps the low OW bits only: the upper bits of `sat` are dropped by design.
    wire [FW-1:0] sat = (OVF == 1) ? rounded : too_big ? MAXV : too_small ? MINV : rounded;
    /* verilator lint_on UNUSEDSIGNAL */
    assign dout = sat[OW-1:0];
endmodule
