// l2h_linear: y[n] = convert(acc[n] * scale[n] + bias[n]) with
// acc[n] = sum_k x[k] * w[n][k] (exact), one token at a time, L lanes.
// Integer semantics: llm2hls linear run_int (docs/architecture.md).
//
// Per token: LOAD buffers the K inputs; then for each group of L output
// channels, COMP streams the K weight words (L weights side by side, lane l
// holding rows n = g*L + l: the cyclic partition of the HLS backend) from a
// synchronous ROM and accumulates exactly; the finished group moves to an
// output bank, which is drained (scale, bias, convert) one value per cycle
// while the next group computes.
module l2h_linear #(
    parameter integer K = 4,        // input channels
    parameter integer N = 4,        // output channels
    parameter integer L = 1,        // parallel lanes (MACs per cycle)
    parameter integer XW = 16, parameter integer XS = 1,   // input width / signed
    parameter integer WB = 8,       // weight bits (signed)
    parameter integer MB = 16,      // scale multiplier bits (unsigned)
    parameter integer BB = 32,      // bias bits (signed)
    parameter integer HAS_BIAS = 1,
    parameter integer SHIFT = 0,    // (Fx + Fm) - Fy
    parameter integer OW = 16, parameter integer OS = 1,
    parameter integer ROUND = 1, parameter integer OVF = 0,
    parameter WFILE = "",           // ceil(N/L)*K words of L*WB bits (lane 0 in the low bits)
    parameter SFILE = "",           // N words of MB bits
    parameter BFILE = ""            // N words of BB bits
) (
    input  wire          clk,
    input  wire          rst,
    input  wire [XW-1:0] in_data,
    input  wire          in_valid,
    output wire          in_ready,
    output reg  [OW-1:0] out_data,
    output reg           out_valid,
    input  wire          out_ready
);
    localparam integer G = (N + L - 1) / L;          // lane groups
    localparam integer KB = (K <= 2) ? 1 : $clog2(K);
    localparam integer GB = (G <= 2) ? 1 : $clog2(G);
    localparam integer LB = (L <= 2) ? 1 : $clog2(L);
    localparam integer NB = (N <= 2) ? 1 : $clog2(N);
    localparam integer WA = (G * K <= 2) ? 1 : $clog2(G * K);
    localparam integer PW = XW + WB + 1;              // exact product
    localparam integer AW = PW + KB + 1;              // exact sum of K products
    localparam integer SW0 = (AW + MB + 1 > BB) ? AW + MB + 1 : BB;
    localparam integer SW = SW0 + 1;                  // acc * scale + bias, exact
    localparam integer KLI = K - 1;
    localparam [KB-1:0] KLAST = KLI[KB-1:0];
    localparam integer GLI = G - 1;
    localparam [GB-1:0] GLAST = GLI[GB-1:0];
    localparam integer LLI = L - 1;
    localparam [LB-1:0] LFULL = LLI[LB-1:0];
    localparam integer TLI = N - (G - 1) * L - 1;     // last lane of the last group
    localparam [LB-1:0] LTAIL = TLI[LB-1:0];
    localparam integer LI = L;
    localparam [NB:0] LSTEP = LI[NB:0];

    // ---- memories -----------------------------------------------------------
    reg [XW-1:0] xbuf [0:K-1];
    reg [L*WB-1:0] wrom [0:G*K-1];
    reg [MB-1:0] srom [0:N-1];
    initial $readmemh(WFILE, wrom);
    initial $readmemh(SFILE, srom);

    // ---- control ------------------------------------------------------------
    localparam [1:0] S_LOAD = 2'd0, S_COMP = 2'd1, S_DRAIN = 2'd2;
    reg [1:0] state;
    reg [KB-1:0] k;
    reg [GB-1:0] g;
    reg [WA-1:0] waddr;
    assign in_ready = state == S_LOAD;

    // stage 1: weight word and input value; stage 2: accumulate
    reg v1, first1, last1;
    reg [L*WB-1:0] w1;
    reg [XW-1:0] x1;
    reg signed [AW-1:0] acc [0:L-1];
    reg acc_done;

    // output bank: one finished group being drained
    reg signed [AW-1:0] bank [0:L-1];
    reg bank_valid;
    reg [LB-1:0] e, bank_last;
    reg [NB:0] bank_n;             // channel index of bank[e]

    always @(posedge clk) begin
        if (rst) begin
            state <= S_LOAD;
            k <= 0;
            g <= 0;
            waddr <= 0;
            v1 <= 1'b0;
            acc_done <= 1'b0;
        end else begin
            v1 <= 1'b0;
            case (state)
                S_LOAD: if (in_valid) begin
                    xbuf[k] <= in_data;
                    k <= (k == KLAST) ? {KB{1'b0}} : k + 1'b1;
                    if (k == KLAST) begin
                        state <= S_COMP;
                        waddr <= 0;
                        g <= 0;
                    end
                end
                S_COMP: begin
                    w1 <= wrom[waddr];
                    x1 <= xbuf[k];
                    v1 <= 1'b1;
                    first1 <= k == 0;
                    last1 <= k == KLAST;
                    waddr <= waddr + 1'b1;
                    k <= (k == KLAST) ? {KB{1'b0}} : k + 1'b1;
                    if (k == KLAST) state <= S_DRAIN;
                end
                default: if (acc_done & ~bank_valid) begin  // S_DRAIN: hand the group over
                    g <= g + 1'b1;
                    state <= (g == GLAST) ? S_LOAD : S_COMP;
                end
            endcase
            if (v1 & last1) acc_done <= 1'b1;
            else if (state == S_DRAIN & acc_done & ~bank_valid) acc_done <= 1'b0;
        end
    end

    wire handover = (state == S_DRAIN) & acc_done & ~bank_valid;

    genvar l;
    generate
        for (l = 0; l < L; l = l + 1) begin : g_lane
            wire signed [PW-1:0] xe = $signed({{(PW-XW){(XS != 0) & x1[XW-1]}}, x1});
            wire [WB-1:0] wl = w1[l*WB +: WB];
            wire signed [PW-1:0] we = $signed({{(PW-WB){wl[WB-1]}}, wl});
            wire signed [PW-1:0] prod = xe * we;
            wire signed [AW-1:0] prod_ext = {{(AW-PW){prod[PW-1]}}, prod};
            always @(posedge clk) begin
                if (v1) acc[l] <= (first1 ? {AW{1'b0}} : acc[l]) + prod_ext;
                if (handover) bank[l] <= acc[l];
            end
        end
    endgenerate

    // ---- drain: scale, bias, convert, one value per cycle ----------------------
    wire [NB-1:0] n_idx = bank_n[NB-1:0];
    wire signed [AW-1:0] acc_e = bank[e];
    wire signed [SW-1:0] scaled = $signed({{(SW-AW){acc_e[AW-1]}}, acc_e})
                                * $signed({{(SW-MB){1'b0}}, srom[n_idx]});
    wire signed [SW-1:0] biased;
    generate
        if (HAS_BIAS != 0) begin : g_bias
            reg [BB-1:0] brom [0:N-1];
            initial $readmemh(BFILE, brom);
            wire [BB-1:0] b = brom[n_idx];
            assign biased = scaled + $signed({{(SW-BB){b[BB-1]}}, b});
        end else begin : g_nobias
            assign biased = scaled;
        end
    endgenerate
    wire [OW-1:0] y;
    l2h_convert #(.IW(SW), .IS(1), .SHIFT(SHIFT), .OW(OW), .OS(OS), .ROUND(ROUND), .OVF(OVF))
        u_conv (.din(biased), .dout(y));

    always @(posedge clk) begin
        if (rst) begin
            bank_valid <= 1'b0;
            out_valid <= 1'b0;
            e <= 0;
        end else begin
            if (handover) begin
                bank_valid <= 1'b1;
                bank_n <= {{(NB+1-GB){1'b0}}, g} * LSTEP;
                bank_last <= (g == GLAST) ? LTAIL : LFULL;
                e <= 0;
            end
            if (~out_valid | out_ready) begin
                out_valid <= bank_valid;
                if (bank_valid) begin
                    out_data <= y;
                    e <= e + 1'b1;
                    bank_n <= bank_n + 1'b1;
                    if (e == bank_last) bank_valid <= 1'b0;
                end
            end
        end
    end
endmodule
