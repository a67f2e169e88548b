// l2h_table: piecewise-linear function table, the Verilog twin of
// llm2hls.ops.tables.table_eval (docs/numerics-nonlinear.md section 1).
// For a raw input x (IW bits, signed if IS), with lo = LO, hi = lo + SIZE*2^SHIFT - 1:
//   u = clamp(x, lo, hi) - lo;  i = u >> SHIFT;  low = u & (2^SHIFT - 1)
//   acc = base[i] * 2^SHIFT + slope[i] * low             (exact)
//   y = convert(acc, frac + SHIFT, out)                    (CSHIFT = frac + SHIFT - out frac)
// outside [lo, hi] the tails apply: 0 zero, 1 identity (convert(x, in frac, out); ISHIFT =
// in frac - out frac), 2 clamp (the clamped lookup above).
// Latency 1: the ROMs are read synchronously when `en` is high; `y` is valid the cycle after.
module l2h_table #(
    parameter integer IW = 16, parameter integer IS = 1,
    parameter integer LO = 0,          // raw input of entry 0
    parameter integer SHIFT = 0,       // log2 of the input step between entries
    parameter integer SIZE = 2,        // entries (a power of two)
    parameter integer BW = 16,         // base entry width (signed)
    parameter integer SW = 16,         // slope entry width (signed)
    parameter integer TAIL_LO = 0, parameter integer TAIL_HI = 0,
    parameter integer CSHIFT = 0, parameter integer ISHIFT = 0,
    parameter integer OW = 16, parameter integer OS = 1,
    parameter integer ROUND = 1, parameter integer OVF = 0,
    parameter BFILE = "", parameter SFILE = ""
) (
    input  wire          clk,
    input  wire          en,
    input  wire [IW-1:0] x,
    output wire [OW-1:0] y
);
    localparam integer XW = (IW > 32 ? IW : 32) + 2;          // x, lo and hi side by side
    localparam integer IB = (SIZE <= 2) ? 1 : $clog2(SIZE);
    localparam integer LB = (SHIFT < 1) ? 1 : SHIFT;
    localparam integer AW = ((BW > SW + 1) ? BW : SW + 1) + SHIFT + 2;  // |acc| bound + sign
    localparam integer HII = LO + SIZE * (2 ** SHIFT) - 1;

    reg [BW-1:0] brom [0:SIZE-1];
    reg [SW-1:0] srom [0:SIZE-1];
    initial $readmemh(BFILE, brom);
    initial $readmemh(SFILE, srom);

    wire signed [XW-1:0] xv = $signed({{(XW-IW){(IS != 0) & x[IW-1]}}, x});
    localparam signed [XW-1:0] LOV = XW'(LO);
    localparam signed [XW-1:0] HIV = XW'(HII);
    wire signed [XW-1:0] lo_v = LOV;
    wire signed [XW-1:0] hi_v = HIV;
    wire below = xv < lo_v;
    wire above = xv > hi_v;
    wire signed [XW-1:0] xc = below ? lo_v : above ? hi_v : xv;
    /* verilator lint_off UNUSEDSIGNAL */
    // u < SIZE * 2^SHIFT: only its low IB + SHIFT bits carry information
    wire [XW-1:0] u = xc - lo_v;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [IB-1:0] idx = u[SHIFT +: IB];

    reg [BW-1:0] b1;
    reg [SW-1:0] s1;
    reg [LB-1:0] low1;
    reg below1, above1;
    reg [IW-1:0] x1;
    always @(posedge clk) begin
        if (en) begin
            b1 <= brom[idx];
            s1 <= srom[idx];
            low1 <= (SHIFT > 0) ? u[LB-1:0] : {LB{1'b0}};
            below1 <= below;
            above1 <= above;
            x1 <= x;
        end
    end

    wire signed [AW-1:0] be = $signed({{(AW-BW){b1[BW-1]}}, b1});
    wire signed [AW-1:0] se = $signed({{(AW-SW){s1[SW-1]}}, s1});
    wire signed [AW-1:0] lowe = $signed({{(AW-LB){1'b0}}, low1});
    wire signed [AW-1:0] acc = (be <<< SHIFT) + ((SHIFT > 0) ? se * lowe : {AW{1'b0}});
    wire [OW-1:0] y_tab, y_id;
    l2h_convert #(.IW(AW), .IS(1), .SHIFT(CSHIFT), .OW(OW), .OS(OS), .ROUND(ROUND), .OVF(OVF))
        u_tab (.din(acc), .dout(y_tab));
    l2h_convert #(.IW(IW), .IS(IS), .SHIFT(ISHIFT), .OW(OW), .OS(OS), .ROUND(ROUND), .OVF(OVF))
        u_id (.din(x1), .dout(y_id));
    wire [1:0] tail = below1 ? TAIL_LO[1:0] : above1 ? TAIL_HI[1:0] : 2'd2;
    assign y = (tail == 2'd0) ? {OW{1'b0}} : (tail == 2'd1) ? y_id : y_tab;
endmodule
