// l2h_attention: multi-head scaled dot-product attention with softmax, causal or explicit mask,
// grouped-query heads; the Verilog twin of llm2hls.ops.attention.attention_int
// (docs/numerics-nonlinear.md section 3). Streams: q [S, HQ*D], k and v [S, HK*D], out [S, HQ*D].
//
// P keys per cycle (P = node.lanes). The K and V buffers are P banks: key j lives in bank
// j mod P at bank row j / P (its kv heads and channels in row order), so the P keys of key group
// g (keys g*P .. g*P+P-1) are read in one cycle, one from each bank; the exp table has P copies.
//
// LOAD reads one token's q row, then its k row, then its v row (BQ, BK, BV elements per beat,
// one beat per cycle), and keeps k and v in bank tok mod P. STREAM = 1 (no query attends to a
// later key): the row of that token is computed right away, so K/V fill up as tokens arrive;
// STREAM = 0: all S tokens are loaded (q too) before the first row. Per row i and query head h
// (kv head h / (HQ/HK)), with n keys in range (i + 1 when streaming, else S), G = ceil(n / P):
//   INIT   1 cycle
//   SCORE  1 cycle per key group   s_j = convert(dot(q_i, k_j) * Q_SCALE, SC_SHIFT, score) for its
//                                  P keys; m = max over the allowed ones (a key beyond n is not)
//   EXP    1 cycle per key group   e_j = exp_table(m - s_j) (0 if not allowed) for its P keys;
//          +1                      sum += sum of the P e_j; acc += sum of the P e_j*v_j
//   DIV    PR+1 cycles             rinv = 2^PR / sum (restoring; 0 when no key is allowed)
//   OUT    D/BO cycles             y_d = convert(acc_d * rinv, OSHIFT, out), BO outputs per beat
//                                  (BO > D: 1 cycle per head; a beat leaves with its last head)
// so a head takes 2G + PR + 3 + D/BO cycles. P*D multipliers compute the dot products and P*D
// the weighted values; the sums are exact, so every P gives the same bits.
// Decode (POS0 > 0): a KV cache of POS0 earlier tokens is preloaded into the banks from
// KFILE<b>.mem / VFILE<b>.mem (bank b); the stream then carries tokens POS0..S-1 (one for a
// decode step), which attend to the cache and to each other (STREAM = 1, causal).
module l2h_attention #(
    parameter integer S = 2, parameter integer HQ = 1, parameter integer HK = 1,
    parameter integer D = 2,
    parameter integer QW = 16, parameter integer KW = 16, parameter integer VW = 16,
    parameter integer CAUSAL = 1, parameter integer STREAM = 1,
    parameter integer HAS_MASK = 0, parameter MFILE = "",
    parameter integer POS0 = 0, parameter KFILE = "", parameter VFILE = "",
    parameter integer QSB = 16, parameter integer Q_SCALE = 1, parameter integer SC_SHIFT = 0,
    parameter integer SCW = 16, parameter integer SC_ROUND = 1, parameter integer SC_OVF = 0,
    parameter integer E_LO = 0, parameter integer E_SHIFT = 0, parameter integer E_SIZE = 2,
    parameter integer E_BW = 16, parameter integer E_SW = 16,
    parameter integer E_TAIL_LO = 0, parameter integer E_TAIL_HI = 0,
    parameter integer E_CSHIFT = 0, parameter integer E_ISHIFT = 0,
    parameter integer EW = 17, parameter integer E_ROUND = 1, parameter integer E_OVF = 0,
    parameter E_BFILE = "", parameter E_SFILE = "",
    parameter integer SUMW = 24, parameter integer ACW = 40,
    parameter integer PR = 46, parameter integer RB = 31,
    parameter integer OSHIFT = 0, parameter integer OW = 16, parameter integer OS = 1,
    parameter integer OROUND = 1, parameter integer OOVF = 0,
    parameter integer BQ = 1, parameter integer BK = 1, parameter integer BV = 1,  // in beats
    parameter integer BO = 1,               // output beat (divides D, or a multiple of D)
    parameter integer P = 1                 // keys per cycle
) (
    input  wire          clk,
    input  wire          rst,
    input  wire [BQ*QW-1:0] q_data,
    input  wire          q_valid,
    output wire          q_ready,
    input  wire [BK*KW-1:0] k_data,
    input  wire          k_valid,
    output wire          k_ready,
    input  wire [BV*VW-1:0] v_data,
    input  wire          v_valid,
    output wire          v_ready,
    output reg  [BO*OW-1:0] out_data,
    output reg           out_valid,
    input  wire          out_ready
);
    localparam integer QPK = HQ / HK;                               // query heads per kv head
    localparam integer QN = (STREAM != 0) ? HQ : S * HQ;
    localparam integer NG = (S + P - 1) / P;                        // key groups = bank rows
    localparam integer SB = (S <= 2) ? 1 : $clog2(S);               // token index
    localparam integer GB = (NG <= 2) ? 1 : $clog2(NG);             // key group index
    localparam integer BB = (P <= 2) ? 1 : $clog2(P);               // bank index
    localparam integer HB = (HQ <= 2) ? 1 : $clog2(HQ);
    localparam integer DB = (D <= 2) ? 1 : $clog2(D);
    localparam integer RQ = HQ * D, RK = HK * D;                    // row elements
    localparam integer QAB = (QN * D <= 2) ? 1 : $clog2(QN * D);   // element addresses
    localparam integer KAB = (NG * RK <= 2) ? 1 : $clog2(NG * RK);  // ... within a bank
    localparam integer PPB = (RQ <= 2) ? 1 : $clog2(RQ) + 1;    // row position
    localparam integer PB = (PR + 1 <= 2) ? 1 : $clog2(PR + 1);
    localparam integer RBB = (RB <= 2) ? 1 : $clog2(RB);
    localparam integer QKW = QW + KW + DB + 1;                      // exact dot product
    localparam integer SCP = QKW + QSB + 1;                         // dot * Q_SCALE
    localparam integer XW = SCW + 1;                                // m - s, unsigned
    localparam integer YW = ACW + RB + 1;                           // acc * rinv
    localparam integer SLI = S - 1, HQLI = HQ - 1, QPKLI = QPK - 1, BLI = P - 1;
    localparam integer GLI = (S - 1) / P;                           // the last key's group
    localparam [SB-1:0] SLAST = SLI[SB-1:0];
    localparam [HB-1:0] HQLAST = HQLI[HB-1:0];
    localparam [HB-1:0] QPKLAST = QPKLI[HB-1:0];
    localparam [BB-1:0] BLAST = BLI[BB-1:0];
    localparam [GB-1:0] GLAST = GLI[GB-1:0];
    localparam [PB-1:0] PTOP = PR[PB-1:0];
    localparam integer G0 = POS0 / P, B0 = POS0 % P;                // group and bank of token POS0
    localparam [SB-1:0] TOK0 = POS0[SB-1:0];
    localparam [GB-1:0] TGRP0 = G0[GB-1:0];
    localparam [BB-1:0] TBANK0 = B0[BB-1:0];

    reg [QW-1:0] qbuf [0:QN*D-1];
    reg [P*SCW-1:0] sbuf [0:NG-1];          // scores of key group g, key g*P+p in bits p*SCW
    reg [P-1:0] abuf [0:NG-1];              // which keys of group g the current row may use

    localparam [2:0] S_LOAD = 3'd0, S_INIT = 3'd1, S_SCORE = 3'd2, S_EXP = 3'd3, S_EXPW = 3'd4,
                     S_DIV = 3'd5, S_OUT = 3'd6;
    reg [2:0] state;
    reg [1:0] lp;                           // LOAD phase: 0 q, 1 k, 2 v
    reg [SB-1:0] tok, i;                    // token being loaded; query row
    reg [GB-1:0] tgrp, igrp, g;             // key groups of tok and of i; current key group
    reg [BB-1:0] tbank;                     // bank of tok
    reg [HB-1:0] h, kvh, hg;                // query head, its kv head, h within the kv head's group
    reg [DB-1:0] dd;
    reg [PPB-1:0] pp;                       // LOAD: element position in the row
    reg signed [SCW-1:0] m;
    reg [SUMW-1:0] sum;
    reg signed [ACW-1:0] acc [0:D-1];
    /* verilator lint_off UNUSEDSIGNAL */
    // rem < sum: its top bit is kept only to compare 2*rem with sum
    reg [SUMW:0] rem;
    /* verilator lint_on UNUSEDSIGNAL */
    reg [RB-1:0] rinv;
    reg [PB-1:0] bit_i;

    // ---- LOAD ------------------------------------------------------------------------
    wire in_q = (state == S_LOAD) & (lp == 2'd0);
    wire in_k = (state == S_LOAD) & (lp == 2'd1);
    wire in_v = (state == S_LOAD) & (lp == 2'd2);
    assign q_ready = in_q;
    assign k_ready = in_k;
    assign v_ready = in_v;
    wire take = (in_q & q_valid) | (in_k & k_valid) | (in_v & v_valid);
    localparam [PPB-1:0] PQ = BQ[PPB-1:0], PK = BK[PPB-1:0], PV = BV[PPB-1:0];
    localparam [PPB-1:0] RQL = RQ[PPB-1:0], RKL = RK[PPB-1:0];
    wire [PPB-1:0] pstep = (lp == 2'd0) ? PQ : (lp == 2'd1) ? PK : PV;
    wire [PPB-1:0] pnext = pp + pstep;
    wire prow_end = pnext == ((lp == 2'd0) ? RQL : RKL);
    /* verilator lint_off WIDTHTRUNC */
    /* verilator lint_off WIDTHEXPAND */
    // addresses are < QN*D / NG*RK by construction: computed in 32 bits, the upper bits are zero
    wire [QAB-1:0] qa_load = (STREAM != 0) ? 32'(pp) : 32'(tok) * RQ + 32'(pp);
    wire [KAB-1:0] ka_load = 32'(tgrp) * RK + 32'(pp);
    wire [QAB-1:0] qa_row = (STREAM != 0) ? 32'(h) * D : (32'(i) * HQ + 32'(h)) * D;
    wire [KAB-1:0] ka_key = (32'(g) * HK + 32'(kvh)) * D;
    /* verilator lint_on WIDTHEXPAND */
    /* verilator lint_on WIDTHTRUNC */
    wire row_done_load = take & prow_end & (lp == 2'd2);

    // ---- SCORE: key group g, one key per bank ------------------------------------------
    reg [D*QW-1:0] qword;
    integer t;
    always @* for (t = 0; t < D; t = t + 1) qword[t*QW +: QW] = qbuf[qa_row + t[QAB-1:0]];
    wire [SB-1:0] jlast = (STREAM != 0) ? i : SLAST;         // the last key in range
    wire [GB-1:0] glast = (STREAM != 0) ? igrp : GLAST;      // ... and its key group
    wire [P-1:0] mask_ok;
    generate
        if (HAS_MASK != 0) begin : g_mask
            reg [P-1:0] mrom [0:S*NG-1];    // word i*NG + g: bit p = key g*P+p allowed for query i
            initial $readmemh(MFILE, mrom);
            localparam integer MB = (S * NG <= 2) ? 1 : $clog2(S * NG);
            /* verilator lint_off WIDTHTRUNC */
            // i * NG + g < S * NG
            wire [MB-1:0] maddr = 32'(i) * NG + 32'(g);
            /* verilator lint_on WIDTHTRUNC */
            assign mask_ok = mrom[maddr];
        end else begin : g_nomask
            assign mask_ok = {P{1'b1}};
        end
    endgenerate

    wire [P*SCW-1:0] s_new;                 // the group's scores, key g*P+p in bits p*SCW
    wire [P-1:0] allowed;
    wire [P*SCW-1:0] s_grp = sbuf[g];       // EXP: the stored scores of group g
    wire [P-1:0] a_grp = abuf[g];
    wire issue_exp = state == S_EXP;
    wire [P*EW-1:0] e_tab;                  // exp of key g*P+p (latency 1) in bits p*EW
    wire [P*D*VW-1:0] vgroup;               // v rows of the group, key p channel d at (p*D+d)*VW
    genvar p;
    generate
        for (p = 0; p < P; p = p + 1) begin : g_key
            localparam integer PI = p;
            localparam [BB-1:0] BANK = PI[BB-1:0];
            reg [KW-1:0] kbank [0:NG*RK-1];
            reg [VW-1:0] vbank [0:NG*RK-1];
            if (POS0 > 0) begin : g_cache   // K/V of keys 0..POS0-1 held by this bank
                initial $readmemh($sformatf("%s%0d.mem", KFILE, p), kbank);
                initial $readmemh($sformatf("%s%0d.mem", VFILE, p), vbank);
            end
            integer a;
            always @(posedge clk) begin     // LOAD: token tok's k and v rows, in bank tok mod P
                for (a = 0; a < BK; a = a + 1)
                    if (in_k & k_valid & (tbank == BANK)) kbank[ka_load + a[KAB-1:0]] <= k_data[a*KW +: KW];
                for (a = 0; a < BV; a = a + 1)
                    if (in_v & v_valid & (tbank == BANK)) vbank[ka_load + a[KAB-1:0]] <= v_data[a*VW +: VW];
            end

            // SCORE: s of key j = g*P + p; allowed if j is in range, causal and not masked
            reg signed [QKW-1:0] qk;
            reg [D*VW-1:0] vrow;            // read here, used in EXP
            integer c;
            always @* begin
                qk = {QKW{1'b0}};
                for (c = 0; c < D; c = c + 1) begin
                    qk = qk + $signed(qword[c*QW +: QW]) * $signed(kbank[ka_key + c[KAB-1:0]]);
                    vrow[c*VW +: VW] = vbank[ka_key + c[KAB-1:0]];
                end
            end
            assign vgroup[p*D*VW +: D*VW] = vrow;
            wire signed [SCP-1:0] scaled = qk * $signed({1'b0, Q_SCALE[QSB-1:0]});
            l2h_convert #(.IW(SCP), .IS(1), .SHIFT(SC_SHIFT), .OW(SCW), .OS(1), .ROUND(SC_ROUND),
                          .OVF(SC_OVF))
                u_score (.din(scaled), .dout(s_new[p*SCW +: SCW]));
            wire [31:0] j = 32'(g) * P + PI;
            assign allowed[p] = (j <= 32'(jlast)) & ((CAUSAL == 0) | (j <= 32'(i))) & mask_ok[p];

            // EXP: e of key j from its stored score, and its v row for the weighted sum
            wire [SCW-1:0] s_j = s_grp[p*SCW +: SCW];
            wire signed [XW-1:0] diff = $signed({m[SCW-1], m}) - $signed({s_j[SCW-1], s_j});
            wire [XW-1:0] ex = a_grp[p] ? diff : {XW{1'b0}};
            l2h_table #(.IW(XW), .IS(0), .LO(E_LO), .SHIFT(E_SHIFT), .SIZE(E_SIZE), .BW(E_BW),
                        .SW(E_SW), .TAIL_LO(E_TAIL_LO), .TAIL_HI(E_TAIL_HI), .CSHIFT(E_CSHIFT),
                        .ISHIFT(E_ISHIFT), .OW(EW), .OS(0), .ROUND(E_ROUND), .OVF(E_OVF),
                        .BFILE(E_BFILE), .SFILE(E_SFILE))
                u_exp (.clk(clk), .en(issue_exp), .x(ex), .y(e_tab[p*EW +: EW]));
        end
    endgenerate

    // the running max with the group's allowed scores
    reg signed [SCW-1:0] m_grp;
    integer q;
    always @* begin
        m_grp = m;
        for (q = 0; q < P; q = q + 1)
            if (allowed[q] && $signed(s_new[q*SCW +: SCW]) > m_grp) m_grp = s_new[q*SCW +: SCW];
    end

    // EXP, one cycle later: the group's exponentials (0 where not allowed), their sum, and the
    // sums of their weighted values; exact (sum <= S * 2^FE, |acc| <= sum * 2^(VW-1))
    reg ev1;
    reg [P-1:0] ea1;
    reg [P*D*VW-1:0] v1;
    reg [SUMW-1:0] e_sum;
    reg [D*ACW-1:0] ev_sum;                 // channel d in bits d*ACW
    integer ek, ec;
    always @* begin
        e_sum = {SUMW{1'b0}};
        ev_sum = {(D*ACW){1'b0}};
        for (ek = 0; ek < P; ek = ek + 1)
            if (ea1[ek]) begin              // (a key not loaded yet holds no value to multiply)
                e_sum = e_sum + {{(SUMW-EW){1'b0}}, e_tab[ek*EW +: EW]};
                for (ec = 0; ec < D; ec = ec + 1)
                    ev_sum[ec*ACW +: ACW] = $signed(ev_sum[ec*ACW +: ACW])
                        + $signed({1'b0, e_tab[ek*EW +: EW]}) * $signed(v1[(ek*D+ec)*VW +: VW]);
            end
    end

    // ---- DIV and OUT -----------------------------------------------------------------
    wire [SUMW:0] rem2 = {rem[SUMW-1:0], 1'b0} | {{SUMW{1'b0}}, bit_i == PTOP};
    wire rem_ge = rem2 >= {1'b0, sum};
    localparam integer NL = (BO < D) ? BO : D;     // outputs converted per cycle
    localparam integer HPB = (BO > D) ? BO / D : 1; // heads per output beat
    wire [NL*OW-1:0] y;
    genvar o;
    generate
        for (o = 0; o < NL; o = o + 1) begin : g_out
            /* verilator lint_off WIDTHTRUNC */
            wire [DB-1:0] d_o = dd + o;     // < D: BO divides D and dd steps by BO
            /* verilator lint_on WIDTHTRUNC */
            wire signed [YW-1:0] yfull = acc[d_o] * $signed({1'b0, rinv});
            l2h_convert #(.IW(YW), .IS(1), .SHIFT(OSHIFT), .OW(OW), .OS(OS), .ROUND(OROUND), .OVF(OOVF))
                u_out (.din(yfull), .dout(y[o*OW +: OW]));
        end
    endgenerate
    localparam integer DOL = D - NL;
    localparam [DB-1:0] DOLAST = DOL[DB-1:0];
    wire adv = ~out_valid | out_ready;
    wire issue_out = (state == S_OUT) & adv;

    // output beat: NL values per cycle; with BO > D the heads of one beat gather first
    wire emit;
    wire [BO*OW-1:0] beat_out;
    generate
        if (HPB > 1) begin : g_gather
            localparam integer HPL = HPB - 1;
            localparam [HB-1:0] HSLAST = HPL[HB-1:0];
            reg [(BO-NL)*OW-1:0] early;     // the beat's earlier heads, first in the low bits
            reg [HB-1:0] hs;                // head within the beat
            assign emit = issue_out & (hs == HSLAST);
            assign beat_out = {y, early};
            always @(posedge clk) begin
                if (rst) hs <= 0;
                else if (issue_out) hs <= (hs == HSLAST) ? {HB{1'b0}} : hs + 1'b1;
            end
            if (HPB > 2) begin : g_shift
                always @(posedge clk) if (issue_out) early <= {y, early[(BO-NL)*OW-1:NL*OW]};
            end else begin : g_one
                always @(posedge clk) if (issue_out) early <= y;
            end
        end else begin : g_direct
            assign emit = issue_out;
            assign beat_out = y;
        end
    endgenerate

    wire g_end = g == glast;
    integer a;
    always @(posedge clk) begin
        if (rst) begin
            state <= S_LOAD;
            lp <= 2'd0;
            tok <= TOK0;
            tgrp <= TGRP0;
            tbank <= TBANK0;
            pp <= 0;
            dd <= 0;
            ev1 <= 1'b0;
            out_valid <= 1'b0;
        end else begin
            ev1 <= issue_exp;
            ea1 <= a_grp;
            v1 <= vgroup;
            case (state)
                S_LOAD: if (take) begin
                    pp <= prow_end ? {PPB{1'b0}} : pnext;
                    if (prow_end) lp <= (lp == 2'd2) ? 2'd0 : lp + 2'd1;
                    if (row_done_load) begin
                        tok <= (tok == SLAST) ? TOK0 : tok + 1'b1;
                        tbank <= (tok == SLAST) ? TBANK0 : (tbank == BLAST) ? {BB{1'b0}} : tbank + 1'b1;
                        tgrp <= (tok == SLAST) ? TGRP0 : (tbank == BLAST) ? tgrp + 1'b1 : tgrp;
                        if (STREAM != 0 || tok == SLAST) begin
                            state <= S_INIT;
                            i <= (STREAM != 0) ? tok : {SB{1'b0}};
                            igrp <= tgrp;
                            h <= 0;
                            kvh <= 0;
                            hg <= 0;
                        end
                    end
                end
                S_INIT: begin
                    g <= 0;
                    m <= {1'b1, {(SCW-1){1'b0}}};
                    sum <= 0;
                    for (a = 0; a < D; a = a + 1) acc[a] <= 0;
                    state <= S_SCORE;
                end
                S_SCORE: begin
                    sbuf[g] <= s_new;
                    abuf[g] <= allowed;
                    m <= m_grp;
                    g <= g_end ? {GB{1'b0}} : g + 1'b1;
                    if (g_end) state <= S_EXP;
                end
                S_EXP: begin
                    g <= g_end ? {GB{1'b0}} : g + 1'b1;
                    if (g_end) state <= S_EXPW;
                end
                S_EXPW: begin
                    rem <= 0;
                    bit_i <= PTOP;
                    state <= S_DIV;
                end
                S_DIV: begin  // quotient bit bit_i of 2^PR / sum
                    rem <= rem_ge ? rem2 - {1'b0, sum} : rem2;
                    if (32'(bit_i) < RB) rinv[bit_i[RBB-1:0]] <= rem_ge & (sum != 0);
                    bit_i <= bit_i - 1'b1;
                    if (bit_i == 0) begin
                        state <= S_OUT;
                        dd <= 0;
                    end
                end
                default: if (adv) begin  // S_OUT
                    dd <= (dd == DOLAST) ? {DB{1'b0}} : dd + NL[DB-1:0];
                    if (dd == DOLAST) begin
                        h <= h + 1'b1;
                        hg <= (hg == QPKLAST) ? {HB{1'b0}} : hg + 1'b1;
                        if (hg == QPKLAST) kvh <= kvh + 1'b1;
                        if (h == HQLAST) begin
                            h <= 0;
                            kvh <= 0;
                            hg <= 0;
                            if (STREAM != 0 || i == SLAST) state <= S_LOAD;
                            else begin
                                i <= i + 1'b1;
                                state <= S_INIT;
                            end
                        end else begin
                            state <= S_INIT;
                        end
                    end
                end
            endcase
            if (ev1) begin
                sum <= sum + e_sum;
                for (a = 0; a < D; a = a + 1) acc[a] <= acc[a] + $signed(ev_sum[a*ACW +: ACW]);
            end
            if (adv) out_valid <= emit;
        end
        if (state == S_LOAD)
            for (a = 0; a < BQ; a = a + 1)
                if (in_q & q_valid) qbuf[qa_load + a[QAB-1:0]] <= q_data[a*QW +: QW];
        if (emit) out_data <= beat_out;
    end
endmodule
