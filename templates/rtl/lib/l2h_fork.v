// l2h_fork: eager fork of one stream to N consumers. Each output takes the
// current element independently; the input is released once all have taken it,
// so a slow consumer never blocks the others from getting this element.
module l2h_fork #(
    parameter integer W = 16,
    parameter integer N = 2
) (
    input  wire         clk,
    input  wire         rst,
    input  wire [W-1:0] in_data,
    input  wire         in_valid,
    output wire         in_ready,
    output wire [W-1:0] out_data,
    output wire [N-1:0] out_valid,
    input  wire [N-1:0] out_ready
);
    reg [N-1:0] taken;
    assign out_data = in_data;
    assign out_valid = {N{in_valid}} & ~taken;
    assign in_ready = &(taken | out_ready);

    always @(posedge clk) begin
        if (rst) taken <= {N{1'b0}};
        else if (in_valid & in_ready) taken <= {N{1'b0}};
        else taken <= taken | (out_valid & out_ready);
    end
endmodule
