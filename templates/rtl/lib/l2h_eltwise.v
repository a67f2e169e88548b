// l2h_eltwise: elementwise add / sub / mul of stream `a` with stream `b` or a
// constant from a ROM (scalar, per channel [C] or per position [S, C]).
// Integer semantics (llm2hls eltwise run_int): add/sub align both operands to
// the larger fraction (exact left shifts ASH/BSH) and add; mul takes the raw
// product; then l2h_convert (SHIFT = result frac - output frac) into the output.
// B elements per beat (element e of a beat in bits [e*W +: W]), one beat per
// cycle, B datapaths side by side; the constant ROM holds one beat per word.
module l2h_eltwise #(
    parameter integer OP = 0,          // 0 add, 1 sub, 2 mul
    parameter integer AW = 16, parameter integer AS = 1, parameter integer ASH = 0,
    parameter integer BW = 16, parameter integer BS = 1, parameter integer BSH = 0,
    parameter integer BMODE = 0,       // 0 stream, 1 const scalar, 2 const [C], 3 const [S, C]
    parameter integer C = 1,           // channels per token
    parameter integer S = 1,           // tokens per inference (for BMODE 3)
    parameter integer B = 1,           // elements per beat (divides C)
    parameter BFILE = "",              // $readmemh file of the constant (BMODE != 0), B per word
    parameter integer SHIFT = 0,
    parameter integer OW = 16, parameter integer OS = 1,
    parameter integer ROUND = 1, parameter integer OVF = 0
) (
    input  wire            clk,
    input  wire            rst,
    input  wire [B*AW-1:0] a_data,
    input  wire            a_valid,
    output wire            a_ready,
    /* verilator lint_off UNUSEDSIGNAL */
    // With a constant operand (BMODE != 0) the b port stays unconnected: one port list for all modes.
    input  wire [B*BW-1:0] b_data,
    input  wire            b_valid,
    /* verilator lint_on UNUSEDSIGNAL */
    output wire            b_ready,
    output reg  [B*OW-1:0] out_data,
    output reg             out_valid,
    input  wire            out_ready
);
    localparam integer NCONST = (BMODE == 1) ? 1 : (BMODE == 2) ? C / B : (BMODE == 3) ? S * C / B : 1;
    localparam integer IA = (NCONST <= 1) ? 1 : $clog2(NCONST);
    localparam integer XW = (AW + ASH > BW + BSH ? AW + ASH : BW + BSH) + 2;  // add/sub width
    localparam integer RW = (OP == 2) ? AW + BW + 2 : XW;

    // ---- operand b: stream or constant ------------------------------------
    reg [IA-1:0] cidx;              // beat within the constant table
    wire [B*BW-1:0] b_val;
    wire b_have;
    generate
        if (BMODE == 0) begin : g_stream
            assign b_val = b_data;
            assign b_have = b_valid;
        end else begin : g_const
            reg [B*BW-1:0] rom [0:NCONST-1];
            initial $readmemh(BFILE, rom);
            assign b_val = rom[cidx];
            assign b_have = 1'b1;
        end
    endgenerate

    wire fire = a_valid & b_have & (~out_valid | out_ready);
    assign a_ready = b_have & (~out_valid | out_ready);
    assign b_ready = (BMODE == 0) & a_valid & (~out_valid | out_ready);

    // ---- arithmetic, one datapath per element of the beat -------------------
    wire [B*OW-1:0] conv;
    genvar e;
    generate
        for (e = 0; e < B; e = e + 1) begin : g_elem
            wire [AW-1:0] ae = a_data[e*AW +: AW];
            wire [BW-1:0] be = b_val[e*BW +: BW];
            wire sa = (AS != 0) & ae[AW-1];
            wire sb = (BS != 0) & be[BW-1];
            wire signed [RW-1:0] res;
            if (OP == 2) begin : g_mul
                assign res = $signed({{(RW-AW){sa}}, ae}) * $signed({{(RW-BW){sb}}, be});
            end else begin : g_addsub
                wire signed [XW-1:0] ax = $signed({{(XW-AW){sa}}, ae}) <<< ASH;
                wire signed [XW-1:0] bx = $signed({{(XW-BW){sb}}, be}) <<< BSH;
                assign res = (OP == 1) ? ax - bx : ax + bx;
            end
            l2h_convert #(.IW(RW), .IS(1), .SHIFT(SHIFT), .OW(OW), .OS(OS), .ROUND(ROUND), .OVF(OVF))
                u_conv (.din(res), .dout(conv[e*OW +: OW]));
        end
    endgenerate

    // ---- position in the constant table --------------------------------
    localparam integer LASTI = (BMODE == 3) ? NCONST - 1 : C / B - 1;
    localparam [IA-1:0] LAST = LASTI[IA-1:0];
    always @(posedge clk) begin
        if (rst || BMODE < 2) cidx <= {IA{1'b0}};
        else if (fire) cidx <= (cidx == LAST) ? {IA{1'b0}} : cidx + 1'b1;
    end

    // ---- output register --------------------------------------------------
    always @(posedge clk) begin
        if (rst) out_valid <= 1'b0;
        else if (fire) out_valid <= 1'b1;
        else if (out_ready) out_valid <= 1'b0;
        if (fire) out_data <= conv;
    end
endmodule
