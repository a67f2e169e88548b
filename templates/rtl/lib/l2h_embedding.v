// l2h_embedding: token id in, C table values out (row `id` of a [V, C] ROM),
// B values per beat (the ROM holds one beat per word, so a beat is one read).
// The ROM is read synchronously straight into the output register (the
// BRAM-friendly form); a read is issued only when the output register is free.
module l2h_embedding #(
    parameter integer IDW = 16,     // token id width
    parameter integer V = 2,        // vocabulary size
    parameter integer C = 1,        // channels
    parameter integer W = 16,       // output width
    parameter integer B = 1,        // values per beat (divides C)
    parameter WFILE = ""            // $readmemh file, V*C/B words of B values, row-major
) (
    input  wire           clk,
    input  wire           rst,
    input  wire [IDW-1:0] in_data,
    input  wire           in_valid,
    output wire           in_ready,
    output reg  [B*W-1:0] out_data,
    output reg            out_valid,
    input  wire           out_ready
);
    localparam integer CB = C / B;  // beats per row
    localparam integer N = V * CB;
    localparam integer ABITS = (N <= 2) ? 1 : $clog2(N);
    localparam integer CBITS = (CB <= 2) ? 1 : $clog2(CB);
    localparam integer CL = CB - 1;
    localparam [CBITS-1:0] CLAST = CL[CBITS-1:0];
    localparam [ABITS-1:0] CW = CB[ABITS-1:0];

    reg [B*W-1:0] rom [0:N-1];
    initial $readmemh(WFILE, rom);

    reg have_id;
    reg [ABITS-1:0] row_base;       // id * C / B
    reg [CBITS-1:0] c;
    wire advance = ~out_valid | out_ready;
    assign in_ready = ~have_id;

    /* verilator lint_off WIDTHTRUNC */
    // ids are < V by contract, so id * C / B fits ABITS: the upper bits are zero.
    wire [ABITS-1:0] id_base = in_data * CW;
    /* verilator lint_on WIDTHTRUNC */
    wire [ABITS-1:0] addr = row_base + {{(ABITS > CBITS ? ABITS - CBITS : 0){1'b0}}, c};

    always @(posedge clk) begin
        if (rst) begin
            have_id <= 1'b0;
            out_valid <= 1'b0;
            c <= 0;
        end else begin
            if (in_valid & in_ready) begin
                have_id <= 1'b1;
                row_base <= id_base;
                c <= 0;
            end
            if (advance) begin
                out_valid <= have_id;
                if (have_id) begin
                    out_data <= rom[addr];
                    c <= c + 1'b1;
                    if (c == CLAST) have_id <= 1'b0;
                end
            end
        end
    end
endmodule
