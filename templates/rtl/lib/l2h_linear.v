// l2h_linear: y[n] = convert(acc[n] * scale[n] + bias[n]) with
// acc[n] = sum_k x[k] * w[n][k] (exact), one token at a time, L x LI MACs per cycle:
// L output channels, each taking LI inputs of the buffered row per cycle.
// Integer semantics: llm2hls linear run_int (docs/architecture.md).
//
// Per token: the K inputs arrive BI per beat and are loaded into one of two
// input buffers (the next token loads while this one computes); then for each
// group of L output channels, COMP streams K/LI weight words (L x LI weights
// side by side, lane l holding row n = g*L + l, inputs k*LI + i at position
// l*LI + i: the cyclic partition of the HLS backend) from a synchronous ROM
// and accumulates exactly; the finished group
// moves into a small circular buffer of accumulators, which is drained (scale,
// bias, convert) BO values per cycle while the next group computes.
//
// WSTREAM = 1 (weights off chip): the same words, in the same order, arrive on
// the w port (valid/ready, one word per beat) instead of from the ROM; COMP
// advances one k per word taken, so a slow memory stretches it.
module l2h_linear #(
    parameter integer K = 4,        // input channels
    parameter integer N = 4,        // output channels
    parameter integer L = 1,        // output lanes (channels computed side by side)
    parameter integer LI = 1,       // inputs per lane and cycle (divides K)
    parameter integer XW = 16, parameter integer XS = 1,   // input width / signed
    parameter integer WB = 8,       // weight bits (signed)
    parameter integer MB = 16,      // scale multiplier bits (unsigned)
    parameter integer BB = 32,      // bias bits (signed)
    parameter integer HAS_BIAS = 1,
    parameter integer SHIFT = 0,    // (Fx + Fm) - Fy
    parameter integer OW = 16, parameter integer OS = 1,
    parameter integer ROUND = 1, parameter integer OVF = 0,
    parameter WFILE = "",           // ceil(N/L)*K/LI words of L*LI*WB bits (lane 0 in the low bits)
    parameter SFILE = "",           // N/BO words of BO scales of MB bits
    parameter BFILE = "",           // N/BO words of BO biases of BB bits
    parameter integer WSTREAM = 0,  // 1: weight words from the w port instead of WFILE
    parameter integer BI = 1,       // input elements per beat (divides K)
    parameter integer BO = 1        // output elements per beat (divides N)
) (
    input  wire          clk,
    input  wire          rst,
    input  wire [BI*XW-1:0] in_data,
    input  wire          in_valid,
    output wire          in_ready,
    /* verilator lint_off UNUSEDSIGNAL */
    // used only with WSTREAM = 1 (tied to zero otherwise)
    input  wire [L*LI*WB-1:0] w_data,
    input  wire          w_valid,
    /* verilator lint_on UNUSEDSIGNAL */
    output wire          w_ready,
    output reg  [BO*OW-1:0] out_data,
    output reg           out_valid,
    input  wire          out_ready
);
    localparam integer G = (N + L - 1) / L;          // lane groups
    localparam integer KB = (K <= 2) ? 1 : $clog2(K);
    localparam integer GB = (G <= 2) ? 1 : $clog2(G);
    localparam integer KS = K / LI;                   // COMP steps per group
    localparam integer KSB = (KS <= 2) ? 1 : $clog2(KS);
    localparam integer WA = (G * KS <= 2) ? 1 : $clog2(G * KS);
    localparam integer KBT = K / BI;                  // input beats per token
    localparam integer KTB = (KBT <= 2) ? 1 : $clog2(KBT);
    localparam integer NBT = N / BO;                  // output beats per token
    localparam integer NTB = (NBT <= 2) ? 1 : $clog2(NBT);
    localparam integer PW = XW + WB + 1;              // exact product
    localparam integer AW = PW + KB + 1;              // exact sum of K products
    localparam integer SW0 = (AW + MB + 1 > BB) ? AW + MB + 1 : BB;
    localparam integer SW = SW0 + 1;                  // acc * scale + bias, exact
    localparam integer KLI = KS - 1;
    localparam [KSB-1:0] KLAST = KLI[KSB-1:0];
    localparam integer KTLI = KBT - 1;
    localparam [KTB-1:0] KTLAST = KTLI[KTB-1:0];
    localparam integer NTLI = NBT - 1;
    localparam [NTB-1:0] NTLAST = NTLI[NTB-1:0];
    localparam integer GLI = G - 1;
    localparam [GB-1:0] GLAST = GLI[GB-1:0];
    // circular buffer of finished accumulators: room for two lane groups or two output beats
    localparam integer QB = $clog2(2 * ((L > BO) ? L : BO));
    localparam integer Q = 1 << QB;
    localparam integer TAILN = N - (G - 1) * L;       // lanes of the last group
    localparam [QB:0] LCNT = L[QB:0];
    localparam [QB:0] TCNT = TAILN[QB:0];
    localparam integer QRI = Q - L;
    localparam [QB:0] QROOM = QRI[QB:0];            // a group may move in while used <= Q - L
    localparam [QB:0] BOCNT = BO[QB:0];

    // ---- memories -----------------------------------------------------------
    reg [XW-1:0] xbuf [0:2*K-1];    // two token buffers: bank b holds xbuf[b*K +: K]
    reg [BO*MB-1:0] srom [0:NBT-1];
    initial $readmemh(SFILE, srom);

    // ---- control ------------------------------------------------------------
    localparam [1:0] S_WAIT = 2'd0, S_COMP = 2'd1, S_DRAIN = 2'd2;
    reg [1:0] state;
    reg [KSB-1:0] k;                // compute step in the group (inputs k*LI ..)
    reg [KTB-1:0] lk;               // load position (beats)
    reg lsel, csel;                 // bank being loaded / computed
    reg [1:0] full;                 // bank holds a whole token not yet computed
    reg [GB-1:0] g;
    /* verilator lint_off UNUSEDSIGNAL */
    reg [WA-1:0] waddr;             // ROM address (unused with WSTREAM = 1)
    /* verilator lint_on UNUSEDSIGNAL */
    assign in_ready = ~full[lsel];
    /* verilator lint_off WIDTHTRUNC */
    // buffer addresses bank*K + position < 2K: computed in 32 bits, the upper bits are zero
    wire [KB:0] xa_load = 32'(lsel) * K + 32'(lk) * BI;
    wire [KB:0] xa_comp = 32'(csel) * K + 32'(k) * LI;
    /* verilator lint_on WIDTHTRUNC */

    // weight word of this COMP step: ROM (on chip) or the w port (off chip)
    wire [L*LI*WB-1:0] wword;
    wire wgo;                       // a weight word is there this cycle
    generate
        if (WSTREAM != 0) begin : g_wport
            assign wword = w_data;
            assign wgo = w_valid;
            assign w_ready = state == S_COMP;
        end else begin : g_wrom
            reg [L*LI*WB-1:0] wrom [0:G*KS-1];
            initial $readmemh(WFILE, wrom);
            assign wword = wrom[waddr];
            assign wgo = 1'b1;
            assign w_ready = 1'b0;
        end
    endgenerate

    // stage 1: weight word and input value; stage 2: accumulate
    reg v1, first1, last1;
    reg [L*LI*WB-1:0] w1;
    reg [LI*XW-1:0] x1;
    reg signed [AW-1:0] acc [0:L-1];
    reg acc_done;

    // finished accumulators in output order (wp, rp: element positions modulo 2Q)
    reg signed [AW-1:0] obuf [0:Q-1];
    reg [QB:0] wp, rp;
    wire [QB:0] used = wp - rp;
    wire handover = (state == S_DRAIN) & acc_done & (used <= QROOM);
    wire [QB:0] gcnt = (g == GLAST) ? TCNT : LCNT;   // channels the group hands over

    // one exact product x * w, sign-extended to the accumulator width
    function automatic signed [AW-1:0] lane_prod(input [XW-1:0] x, input [WB-1:0] w);
        reg signed [PW-1:0] xe, we, p;
        begin
            xe = $signed({{(PW-XW){(XS != 0) & x[XW-1]}}, x});
            we = $signed({{(PW-WB){w[WB-1]}}, w});
            p = xe * we;
            lane_prod = {{(AW-PW){p[PW-1]}}, p};
        end
    endfunction

    integer bi;
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
            wp <= 0;
        end else begin
            v1 <= 1'b0;
            // loader: fills bank lsel one beat per cycle, then hands it to the compute side
            if (in_valid & ~full[lsel]) begin
                for (bi = 0; bi < BI; bi = bi + 1)
                    xbuf[xa_load + bi[KB:0]] <= in_data[bi*XW +: XW];
                lk <= (lk == KTLAST) ? {KTB{1'b0}} : lk + 1'b1;
                if (lk == KTLAST) lsel <= ~lsel;
            end
            full <= (full | ((in_valid & ~full[lsel] & (lk == KTLAST)) ? (2'b01 << lsel) : 2'b00))
                  & ~((handover & (g == GLAST)) ? (2'b01 << csel) : 2'b00);
            case (state)
                S_WAIT: if (full[csel]) begin
                    state <= S_COMP;
                    waddr <= 0;
                    g <= 0;
                end
                S_COMP: if (wgo) begin
                    w1 <= wword;
                    for (bi = 0; bi < LI; bi = bi + 1)
                        x1[bi*XW +: XW] <= xbuf[xa_comp + bi[KB:0]];
                    v1 <= 1'b1;
                    first1 <= k == 0;
                    last1 <= k == KLAST;
                    waddr <= waddr + 1'b1;
                    k <= (k == KLAST) ? {KSB{1'b0}} : k + 1'b1;
                    if (k == KLAST) state <= S_DRAIN;
                end
                default: if (handover) begin  // S_DRAIN: hand the group over
                    g <= g + 1'b1;
                    state <= (g == GLAST) ? S_WAIT : S_COMP;
                    if (g == GLAST) csel <= ~csel;  // the token is done: free its bank
                end
            endcase
            if (v1 & last1) acc_done <= 1'b1;
            else if (handover) acc_done <= 1'b0;
            if (handover) wp <= wp + gcnt;
        end
    end

    genvar l;
    generate
        for (l = 0; l < L; l = l + 1) begin : g_lane
            // sum of this lane's LI exact products (at most K of them in all: AW holds it)
            reg signed [AW-1:0] prod_ext;
            integer i;
            always @* begin
                prod_ext = {AW{1'b0}};
                for (i = 0; i < LI; i = i + 1)
                    prod_ext = prod_ext + lane_prod(x1[i*XW +: XW], w1[(l*LI+i)*WB +: WB]);
            end
            /* verilator lint_off WIDTHTRUNC */
            // position modulo Q: the low QB bits
            wire [QB-1:0] slot = wp + l;
            /* verilator lint_on WIDTHTRUNC */
            always @(posedge clk) begin
                if (v1) acc[l] <= (first1 ? {AW{1'b0}} : acc[l]) + prod_ext;
                if (handover && l < gcnt) obuf[slot] <= acc[l];
            end
        end
    endgenerate

    // ---- drain: scale, bias, convert, one beat of BO values per cycle ----------
    reg [NTB-1:0] nb;               // output beat within the token
    wire have = used >= BOCNT;
    wire [BO*MB-1:0] sword = srom[nb];
    wire [BO*BB-1:0] bword;
    generate
        if (HAS_BIAS != 0) begin : g_bias
            reg [BO*BB-1:0] brom [0:NBT-1];
            initial $readmemh(BFILE, brom);
            assign bword = brom[nb];
        end else begin : g_nobias
            assign bword = {(BO*BB){1'b0}};
        end
    endgenerate
    wire [BO*OW-1:0] y;
    genvar o;
    generate
        for (o = 0; o < BO; o = o + 1) begin : g_out
            /* verilator lint_off WIDTHTRUNC */
            wire [QB-1:0] slot = rp + o;
            /* verilator lint_on WIDTHTRUNC */
            wire signed [AW-1:0] acc_e = obuf[slot];
            wire [BB-1:0] b = bword[o*BB +: BB];
            wire signed [SW-1:0] scaled = $signed({{(SW-AW){acc_e[AW-1]}}, acc_e})
                                        * $signed({{(SW-MB){1'b0}}, sword[o*MB +: MB]});
            wire signed [SW-1:0] biased = (HAS_BIAS != 0) ? scaled + $signed({{(SW-BB){b[BB-1]}}, b}) : scaled;
            l2h_convert #(.IW(SW), .IS(1), .SHIFT(SHIFT), .OW(OW), .OS(OS), .ROUND(ROUND), .OVF(OVF))
                u_conv (.din(biased), .dout(y[o*OW +: OW]));
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            out_valid <= 1'b0;
            rp <= 0;
            nb <= 0;
        end else if (~out_valid | out_ready) begin
            out_valid <= have;
            if (have) begin
                out_data <= y;
                rp <= rp + BOCNT;
                nb <= (nb == NTLAST) ? {NTB{1'b0}} : nb + 1'b1;
            end
        end
    end
endmodule
