// l2h_act: elementwise table nonlinearity (llm2hls act run_int): one l2h_table
// lookup per element, one beat of B elements per cycle (B table copies: a beat
// needs B reads per cycle), two-stage pipeline (ROM read, interpolate + convert)
// that moves as a whole when the output register is free.
module l2h_act #(
    parameter integer IW = 16, parameter integer IS = 1,
    parameter integer LO = 0, parameter integer SHIFT = 0, parameter integer SIZE = 2,
    parameter integer BW = 16, parameter integer SW = 16,
    parameter integer TAIL_LO = 0, parameter integer TAIL_HI = 0,
    parameter integer CSHIFT = 0, parameter integer ISHIFT = 0,
    parameter integer OW = 16, parameter integer OS = 1,
    parameter integer ROUND = 1, parameter integer OVF = 0,
    parameter integer B = 1,        // elements per beat
    parameter BFILE = "", parameter SFILE = ""
) (
    input  wire            clk,
    input  wire            rst,
    input  wire [B*IW-1:0] in_data,
    input  wire            in_valid,
    output wire            in_ready,
    output reg  [B*OW-1:0] out_data,
    output reg             out_valid,
    input  wire            out_ready
);
    wire adv = ~out_valid | out_ready;
    assign in_ready = adv;
    reg v1;
    wire [B*OW-1:0] y;
    genvar e;
    generate
        for (e = 0; e < B; e = e + 1) begin : g_elem
            l2h_table #(.IW(IW), .IS(IS), .LO(LO), .SHIFT(SHIFT), .SIZE(SIZE), .BW(BW), .SW(SW),
                        .TAIL_LO(TAIL_LO), .TAIL_HI(TAIL_HI), .CSHIFT(CSHIFT), .ISHIFT(ISHIFT),
                        .OW(OW), .OS(OS), .ROUND(ROUND), .OVF(OVF), .BFILE(BFILE), .SFILE(SFILE))
                u_table (.clk(clk), .en(adv), .x(in_data[e*IW +: IW]), .y(y[e*OW +: OW]));
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) begin
            v1 <= 1'b0;
            out_valid <= 1'b0;
        end else if (adv) begin
            v1 <= in_valid;
            out_valid <= v1;
        end
        if (adv & v1) out_data <= y;
    end
endmodule
