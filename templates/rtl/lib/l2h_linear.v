// l2h_linear: y[n] = convert(acc[n] * scale[n] + bias[n]) with
// acc[n] = sum_k x[k] * w[n][k] (exact), one token at a time, L lanes.
// Integer semantics: llm2hls linear run_int (docs/architecture.md).
//
// Per token: the K inputs are loaded into one of two input buffers (the next
// token loads while this one computes); then for each group of L output
// channels, COMP streams the K weight words (L weights side by side, lane l
// holding rows n = g*L + l: the cyclic partition of the HLS backend) from a
// synchronous ROM and accumulates exactly; the finished group moves to an
// output bank, which is drained (scale, bias, convert) one value per cycle
// while the next group computes.
//
// WSTREAM = 1 (weights off chip): the same words, in the same order, arrive on
// the w port (valid/ready, one word per beat) instead of from the ROM; COMP
// advances one k per word taken, so a slow memory stretches it.
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
    parameter BFILE = "",           // N words of BB bits
    parameter integer WSTREAM = 0   // 1: weight words from the w port instead of WFILE
) (
    input  wire          clk,
    input  wire          rst,
    input  wire [XW-1:0] in_data,
    input  wire          in_valid,
    output wire          in_ready,
    /* verilator lint_off UNUSEDSIGNAL */
    // used only with WSTREAM = 1 (tied to zero otherwise)
    input  wire [L*WB-1:0] w_data,
    input  wire          w_valid,
    /* verilator lint_on UNUSEDSIGNAL */
    output wire          w_ready,
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
    reg [XW-1:0] xbuf [0:2*K-1];    // two token buffers: bank b holds xbuf[b*K +: K]
    reg [MB-1:0] srom [0:N-1];
    initial $readmemh(SFILE, srom);

    // ---- control ------------------------------------------------------------
    localparam [1:0] S_WAIT = 2'd0, S_COMP = 2'd1, S_DRAIN = 2'd2;
    reg [1:0] state;
    reg [KB-1:0] k, lk;             // compute / load position in the token
    reg lsel, csel;                 // bank being loaded / computed
    reg [1:0] full;                 // bank holds a whole token not yet computed
    reg [GB-1:0] g;
    /* verilator lint_off UNUSEDSIGNAL */
    reg [WA-1:0] waddr;             // ROM address (unused with WSTREAM = 1)
    /* verilator lint_on UNUSEDSIGNAL */
    assign in_ready = ~full[lsel];
    /* verilator lint_off WIDTHTRUNC */
    // buffer addresses bank*K + position < 2K: computed in 32 bits, the upper bits are zero
    wire [KB:0] xa_load = 32'(lsel) * K + 32'(lk);
    wire [KB:0] xa_comp = 32'(csel) * K + 32'(k);
    /* verilator lint_on WIDTHTRUNC */

    // weight word of this COMP step: ROM (on chip) or the w port (off chip)
    wire [L*WB-1:0] wword;
    wire wgo;                       // a weight word is there this cycle
    generate
        if (WSTREAM != 0) begin : g_wport
            assign wword = w_data;
            assign wgo = w_valid;
            assign w_ready = state == S_COMP;
        end else begin : g_wrom
            reg [L*WB-1:0] wrom [0:G*K-1];
            initial $readmemh(WFILE, wrom);
            assign wword = wrom[waddr];
            assign wgo = 1'b1;
            assign w_ready = 1'b0;
        end
    endgenerate

    // stage 1: weight word and input value; stage 2: accumulate
    reg v1, first1, last1;
    reg [L*WB-1:0] w1;
    reg [XW-1:0] x1;
    reg signed [AW-1:0] acc [0:L-1];
    reg acc_done;

    wire handover;
    // output bank: one finished group being drained
    reg signed [AW-1:0] bank [0:L-1];
    reg bank_valid;
    reg [LB-1:0] e, bank_last;
    reg [NB:0] bank_n;             // channel index of bank[e]

    always @(posedge clk) begin
        if (rst) begin
            state <= S_WAIT;
            k <= 0;
            lk <= 0;
            lsel <= 1'b0;
            csel <= 1'b0;
            full <= 2'b00;
            g <= 0;
            waddr <= 0;
            v1 <= 1'b0;
            acc_done <= 1'b0;
        end else begin
            v1 <= 1'b0;
            // loader: fills bank lsel, then hands it to the compute side
            if (in_valid & ~full[lsel]) begin
                xbuf[xa_load] <= in_data;
                lk <= (lk == KLAST) ? {KB{1'b0}} : lk + 1'b1;
                if (lk == KLAST) lsel <= ~lsel;
            end
            full <= (full | ((in_valid & ~full[lsel] & (lk == KLAST)) ? (2'b01 << lsel) : 2'b00))
                  & ~((handover & (g == GLAST)) ? (2'b01 << csel) : 2'b00);
            case (state)
                S_WAIT: if (full[csel]) begin
                    state <= S_COMP;
                    waddr <= 0;
                    g <= 0;
                end
                S_COMP: if (wgo) begin
                    w1 <= wword;
                    x1 <= xbuf[xa_comp];
                    v1 <= 1'b1;
                    first1 <= k == 0;
                    last1 <= k == KLAST;
                    waddr <= waddr + 1'b1;
                    k <= (k == KLAST) ? {KB{1'b0}} : k + 1'b1;
                    if (k == KLAST) state <= S_DRAIN;
                end
                default: if (acc_done & ~bank_valid) begin  // S_DRAIN: hand the group over
                    g <= g + 1'b1;
                    state <= (g == GLAST) ? S_WAIT : S_COMP;
                    if (g == GLAST) csel <= ~csel;  // the token is done: free its bank
                end
            endcase
            if (v1 & last1) acc_done <= 1'b1;
            else if (state == S_DRAIN & acc_done & ~bank_valid) acc_done <= 1'b0;
        end
    end


    assign handover = (state == S_DRAIN) & acc_done & ~bank_valid;

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
