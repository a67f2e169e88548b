// l2h_layernorm: LayerNorm (KIND 0) or RMSNorm (KIND 1) over C channels, the Verilog twin of
// llm2hls.ops.layernorm.layernorm_int (docs/numerics-nonlinear.md section 2). Per row:
//   LOAD  C cycles   buffer x, s = sum(x)            (RMSNorm: ss = sum(x*x) here too)
//   MEAN  1 cycle    mu = (s*MEAN_MULT + 2^(MEAN_SHIFT-1)) >>> MEAN_SHIFT   (LayerNorm)
//   VAR   C cycles   ss = sum(d*d), d = (x << G) - mu                       (LayerNorm)
//   NORM  1 cycle    e = max(ss + EPS_RAW, 1); z = (62 - bitlen(e)) / 2; e <<= 2z
//   SQRT  31 cycles  r = isqrt(e)          (digit by digit, two bits per cycle)
//   DIV   62 cycles  inv = 2^61 / r        (restoring, one quotient bit per cycle)
//   OUT   C cycles   n = (d*inv + 2^(sh-1)) >>> sh, sh = 61 - z - NF;
//                    y = convert(n*gamma[c] + beta[c], NF + GF, out)  (CSHIFT = NF + GF - out frac)
// OUT is a two-stage pipeline that carries everything it needs, so the next row loads while
// the last outputs drain. Rows arrive and leave B elements per beat: LOAD, VAR and OUT take
// one beat per cycle (C/B cycles each, B datapaths side by side; gamma/beta ROMs hold one beat
// per word).
module l2h_layernorm #(
    parameter integer C = 4,
    parameter integer XW = 16,
    parameter integer KIND = 0,
    parameter integer G = 0,
    parameter integer MEAN_SHIFT = 1,
    parameter [63:0] MEAN_MULT = 64'd1,
    parameter [63:0] EPS_RAW = 64'd0,
    parameter integer NF = 24,
    parameter integer GB = 18,            // q_gamma width (signed)
    parameter integer HAS_BETA = 1,
    parameter integer BB = 32,            // q_beta width (signed)
    parameter integer CSHIFT = 0,
    parameter integer OW = 16, parameter integer OS = 1,
    parameter integer ROUND = 1, parameter integer OVF = 0,
    parameter integer B = 1,              // elements per beat (divides C)
    parameter GFILE = "", parameter BFILE = ""
) (
    input  wire          clk,
    input  wire          rst,
    input  wire [B*XW-1:0] in_data,
    input  wire          in_valid,
    output wire          in_ready,
    output reg  [B*OW-1:0] out_data,
    output reg           out_valid,
    input  wire          out_ready
);
    localparam integer CT = C / B;                   // beats per row
    localparam integer CB = (CT <= 2) ? 1 : $clog2(CT);
    localparam integer CLI = CT - 1;
    localparam [CB-1:0] CLAST = CLI[CB-1:0];
    localparam integer DW = XW + G + 2;              // d = (x << G) - mu
    localparam integer PW = DW + 34;                 // d * inv (inv <= 2^31)
    localparam integer AW = (NF + 3 + GB > BB ? NF + 3 + GB : BB) + 2;  // n*gamma + beta
    localparam integer SHB = 61 - NF;                // sh = SHB - z

    reg [B*XW-1:0] xbuf [0:CT-1];             // one beat per word
    reg [B*GB-1:0] grom [0:CT-1];
    initial $readmemh(GFILE, grom);

    localparam [3:0] S_LOAD = 4'd0, S_MEAN = 4'd1, S_VAR = 4'd2, S_NORM = 4'd3,
                     S_SQRT = 4'd4, S_DIV = 4'd5, S_OUT = 4'd6;
    reg [3:0] state;
    reg [CB-1:0] c;
    reg signed [63:0] s, ss, mu;
    reg [63:0] op, res, one;            // isqrt state
    reg [5:0] z;
    /* verilator lint_off UNUSEDSIGNAL */
    // the remainder stays below r < 2^31; its top bit is kept only to compare 2*rem with r
    reg [32:0] rem;
    /* verilator lint_on UNUSEDSIGNAL */
    reg [31:0] inv;
    reg [5:0] bit_i;

    wire adv = ~out_valid | out_ready;
    assign in_ready = state == S_LOAD;
    wire [B*XW-1:0] xr = xbuf[c];
    // per element of a beat: the input value, its square, d = (x << G) - mu and d * d
    wire [64*B-1:0] xin, dcur;          // element i in bits [i*64 +: 64]
    genvar el;
    generate
        for (el = 0; el < B; el = el + 1) begin : g_elem
            wire [XW-1:0] xi = in_data[el*XW +: XW];
            wire [XW-1:0] xb = xr[el*XW +: XW];
            wire signed [63:0] xc = $signed({{(64-XW){xb[XW-1]}}, xb});
            assign xin[el*64 +: 64] = $signed({{(64-XW){xi[XW-1]}}, xi});
            assign dcur[el*64 +: 64] = (KIND == 0) ? (xc <<< G) - mu : xc;
        end
    endgenerate
    reg signed [63:0] bsum, bsq, dsq;   // sums over the beat
    integer be;
    always @* begin
        bsum = 64'sd0;
        bsq = 64'sd0;
        dsq = 64'sd0;
        for (be = 0; be < B; be = be + 1) begin
            bsum = bsum + $signed(xin[be*64 +: 64]);
            bsq = bsq + $signed(xin[be*64 +: 64]) * $signed(xin[be*64 +: 64]);
            dsq = dsq + $signed(dcur[be*64 +: 64]) * $signed(dcur[be*64 +: 64]);
        end
    end

    // e = max(ss + eps, 1) and its normalization shift z = (62 - bit_length(e)) / 2
    wire signed [63:0] e_raw = ss + $signed(EPS_RAW);
    wire [63:0] e = (e_raw < 64'sd1) ? 64'd1 : e_raw;
    reg [6:0] blen;
    integer b;
    always @* begin
        blen = 7'd0;
        for (b = 0; b < 63; b = b + 1)
            if (e[b]) blen = b[6:0] + 7'd1;
    end
    wire [6:0] zz = (7'd62 - blen) >> 1;

    // one step of the digit-by-digit square root, one step of the restoring division
    wire [63:0] trial = res + one;
    wire [32:0] rem2 = {rem[31:0], 1'b0} | {32'd0, bit_i == 6'd61};
    wire rem_ge = rem2 >= {2'b00, res[30:0]};

    // ---- OUT pipeline: stage A (d * inv), stage B (round, gain, bias), one per element --------
    reg va;
    reg [5:0] sha;
    reg [B*GB-1:0] ga;
    reg [B*BB-1:0] ba;
    reg signed [PW-1:0] pa [0:B-1];
    wire signed [PW-1:0] half = {{(PW-1){1'b0}}, 1'b1} <<< (sha - 6'd1);
    wire [B*OW-1:0] y;
    wire [B*BB-1:0] beta_c;
    generate
        for (el = 0; el < B; el = el + 1) begin : g_out
            wire signed [PW-1:0] dext = dcur[el*64 +: PW];  // |d| < 2^(DW-1): PW bits hold it
            wire signed [PW-1:0] prod = dext * $signed({{(PW-32){1'b0}}, inv});
            always @(posedge clk) if ((state == S_OUT) & adv) pa[el] <= prod;
            /* verilator lint_off UNUSEDSIGNAL */
            // |n| <= 2^NF + 1 (d / sqrt(e) is in [-1, 1]): the upper bits are sign copies
            wire signed [PW-1:0] n = (pa[el] + half) >>> sha;
            /* verilator lint_on UNUSEDSIGNAL */
            wire signed [AW-1:0] ne = n[AW-1:0];
            wire [GB-1:0] gae = ga[el*GB +: GB];
            wire [BB-1:0] bae = ba[el*BB +: BB];
            wire signed [AW-1:0] acc = ne * $signed({{(AW-GB){gae[GB-1]}}, gae})
                                     + ((HAS_BETA != 0) ? $signed({{(AW-BB){bae[BB-1]}}, bae}) : {AW{1'b0}});
            l2h_convert #(.IW(AW), .IS(1), .SHIFT(CSHIFT), .OW(OW), .OS(OS), .ROUND(ROUND), .OVF(OVF))
                u_conv (.din(acc), .dout(y[el*OW +: OW]));
        end
        if (HAS_BETA != 0) begin : g_beta
            reg [B*BB-1:0] brom [0:CT-1];
            initial $readmemh(BFILE, brom);
            assign beta_c = brom[c];
        end else begin : g_nobeta
            assign beta_c = {(B*BB){1'b0}};
        end
    endgenerate
    wire issue = (state == S_OUT) & adv;

    always @(posedge clk) begin
        if (rst) begin
            state <= S_LOAD;
            c <= 0;
            s <= 0;
            ss <= 0;
            va <= 1'b0;
            out_valid <= 1'b0;
        end else begin
            case (state)
                S_LOAD: if (in_valid) begin
                    xbuf[c] <= in_data;
                    s <= s + bsum;
                    if (KIND != 0) ss <= ss + bsq;
                    c <= (c == CLAST) ? {CB{1'b0}} : c + 1'b1;
                    if (c == CLAST) state <= (KIND == 0) ? S_MEAN : S_NORM;
                end
                S_MEAN: begin
                    mu <= (s * $signed(MEAN_MULT) + (64'sd1 <<< (MEAN_SHIFT - 1))) >>> MEAN_SHIFT;
                    state <= S_VAR;
                end
                S_VAR: begin
                    ss <= ss + dsq;
                    c <= (c == CLAST) ? {CB{1'b0}} : c + 1'b1;
                    if (c == CLAST) state <= S_NORM;
                end
                S_NORM: begin
                    z <= zz[5:0];
                    op <= e << (2 * zz);
                    res <= 64'd0;
                    one <= 64'd1 << 60;
                    state <= S_SQRT;
                end
                S_SQRT: begin
                    if (op >= trial) begin
                        op <= op - trial;
                        res <= (res >> 1) + one;
                    end else begin
                        res <= res >> 1;
                    end
                    one <= one >> 2;
                    if (one == 64'd1) begin
                        state <= S_DIV;
                        rem <= 33'd0;
                        bit_i <= 6'd61;
                    end
                end
                S_DIV: begin  // quotient bit bit_i of 2^61 / r (r = res, 31 bits)
                    rem <= rem_ge ? rem2 - {2'b00, res[30:0]} : rem2;
                    if (bit_i < 6'd32) inv[bit_i[4:0]] <= rem_ge;
                    bit_i <= bit_i - 6'd1;
                    if (bit_i == 6'd0) state <= S_OUT;
                end
                default: if (adv) begin  // S_OUT: issue channel c into the pipeline
                    c <= (c == CLAST) ? {CB{1'b0}} : c + 1'b1;
                    if (c == CLAST) begin
                        state <= S_LOAD;
                        s <= 0;
                        ss <= 0;
                    end
                end
            endcase
            if (adv) begin
                va <= issue;
                out_valid <= va;
            end
        end
        if (issue) begin
            sha <= SHB[5:0] - z;
            ga <= grom[c];
            ba <= beta_c;
        end
        if (adv & va) out_data <= y;
    end
endmodule
