// l2h_fifo: first-word-fall-through stream FIFO (valid/ready on both sides).
// DEPTH entries of W bits; registers or LUT RAM; no combinational path from
// out_ready to in_ready (full is registered), so FIFOs cut handshake loops.
module l2h_fifo #(
    parameter integer W = 16,
    parameter integer DEPTH = 2
) (
    input  wire         clk,
    input  wire         rst,
    input  wire [W-1:0] in_data,
    input  wire         in_valid,
    output wire         in_ready,
    output wire [W-1:0] out_data,
    output wire         out_valid,
    input  wire         out_ready
);
    localparam integer D = (DEPTH < 1) ? 1 : DEPTH;
    localparam integer AW = (D <= 2) ? 1 : $clog2(D);

    reg [W-1:0] mem [0:D-1];
    reg [AW-1:0] wr_ptr, rd_ptr;
    reg [AW:0] count;

    wire push = in_valid & in_ready;
    wire pop = out_valid & out_ready;
    assign in_ready = count != D[AW:0];
    assign out_valid = count != 0;
    assign out_data = mem[rd_ptr];

    function automatic [AW-1:0] next_ptr(input [AW-1:0] p);
        next_ptr = (p == D[AW-1:0] - 1'b1) ? {AW{1'b0}} : p + 1'b1;
    endfunction

    always @(posedge clk) begin
        if (rst) begin
            wr_ptr <= 0;
            rd_ptr <= 0;
            count <= 0;
        end else begin
            if (push) begin
                mem[wr_ptr] <= in_data;
                wr_ptr <= next_ptr(wr_ptr);
            end
            if (pop) rd_ptr <= next_ptr(rd_ptr);
            if (push & ~pop) count <= count + 1'b1;
            else if (pop & ~push) count <= count - 1'b1;
        end
    end
endmodule
