;; The explorer's convolution kernel, WebAssembly with 128-bit SIMD (four float32 lanes).
;; Assembled into explorer.js (CONV_WASM) by docs/build_explorer_wasm.py; explorer.js falls back to
;; its plain JavaScript loop where WebAssembly SIMD is missing or the output channels are not a
;; multiple of 4.
;;
;; conv(x, out, k, AH, AW, BH, BW, CI, CO, kh, kw, sh, sw, pt, pl, transpose): adds to `out` (which
;; holds the bias) every product of the convolution; x, out, k are byte offsets into the memory of
;; float32 arrays, channels-last, row-major; k is (kh, kw, CI, CO). The loop runs over the grid A
;; (AH x AW); the other grid is B. Transposed (transpose = 1): A is the input, B the output, and
;; input pixel a reaches output pixel b = a * s + kernel offset - pad. Direct (transpose = 0): A is
;; the output, B the input, and output pixel a reads input pixel b = a * s + kernel offset - pad.
;; Inputs that are exactly 0 (after a relu, about half) are skipped.
(module
  (import "env" "memory" (memory 1))
  (func (export "conv")
    (param $x i32) (param $out i32) (param $k i32)
    (param $AH i32) (param $AW i32) (param $BH i32) (param $BW i32)
    (param $CI i32) (param $CO i32) (param $kh i32) (param $kw i32)
    (param $sh i32) (param $sw i32) (param $pt i32) (param $pl i32) (param $transpose i32)
    (local $ay i32) (local $ax i32) (local $ky i32) (local $kx i32) (local $by i32) (local $bx i32)
    (local $xo i32) (local $oo i32) (local $ko i32) (local $ci i32) (local $kc i32) (local $o i32)
    (local $end i32) (local $xv f32) (local $vx v128)
    (local.set $ay (i32.const 0))
    (block $done_ay (loop $loop_ay
      (br_if $done_ay (i32.ge_s (local.get $ay) (local.get $AH)))
      (local.set $ax (i32.const 0))
      (block $done_ax (loop $loop_ax
        (br_if $done_ax (i32.ge_s (local.get $ax) (local.get $AW)))
        (local.set $ky (i32.const 0))
        (block $done_ky (loop $loop_ky
          (br_if $done_ky (i32.ge_s (local.get $ky) (local.get $kh)))
          (local.set $by (i32.sub (i32.add (i32.mul (local.get $ay) (local.get $sh)) (local.get $ky)) (local.get $pt)))
          (if (i32.and (i32.ge_s (local.get $by) (i32.const 0)) (i32.lt_s (local.get $by) (local.get $BH)))
            (then
              (local.set $kx (i32.const 0))
              (block $done_kx (loop $loop_kx
                (br_if $done_kx (i32.ge_s (local.get $kx) (local.get $kw)))
                (local.set $bx (i32.sub (i32.add (i32.mul (local.get $ax) (local.get $sw)) (local.get $kx)) (local.get $pl)))
                (if (i32.and (i32.ge_s (local.get $bx) (i32.const 0)) (i32.lt_s (local.get $bx) (local.get $BW)))
                  (then
                    (if (local.get $transpose)
                      (then
                        (local.set $xo (i32.mul (i32.add (i32.mul (local.get $ay) (local.get $AW)) (local.get $ax)) (local.get $CI)))
                        (local.set $oo (i32.mul (i32.add (i32.mul (local.get $by) (local.get $BW)) (local.get $bx)) (local.get $CO))))
                      (else
                        (local.set $xo (i32.mul (i32.add (i32.mul (local.get $by) (local.get $BW)) (local.get $bx)) (local.get $CI)))
                        (local.set $oo (i32.mul (i32.add (i32.mul (local.get $ay) (local.get $AW)) (local.get $ax)) (local.get $CO)))))
                    (local.set $ko (i32.mul (i32.mul (i32.add (i32.mul (local.get $ky) (local.get $kw)) (local.get $kx)) (local.get $CI)) (local.get $CO)))
                    (local.set $ci (i32.const 0))
                    (block $done_ci (loop $loop_ci
                      (br_if $done_ci (i32.ge_s (local.get $ci) (local.get $CI)))
                      (local.set $xv (f32.load (i32.add (local.get $x) (i32.shl (i32.add (local.get $xo) (local.get $ci)) (i32.const 2)))))
                      (if (f32.ne (local.get $xv) (f32.const 0))
                        (then
                          (local.set $vx (f32x4.splat (local.get $xv)))
                          (local.set $kc (i32.add (local.get $k) (i32.shl (i32.add (local.get $ko) (i32.mul (local.get $ci) (local.get $CO))) (i32.const 2))))
                          (local.set $o (i32.add (local.get $out) (i32.shl (local.get $oo) (i32.const 2))))
                          (local.set $end (i32.add (local.get $o) (i32.shl (local.get $CO) (i32.const 2))))
                          (block $done_co (loop $loop_co
                            (br_if $done_co (i32.ge_u (local.get $o) (local.get $end)))
                            (v128.store (local.get $o)
                              (f32x4.add (v128.load (local.get $o)) (f32x4.mul (local.get $vx) (v128.load (local.get $kc)))))
                            (local.set $o (i32.add (local.get $o) (i32.const 16)))
                            (local.set $kc (i32.add (local.get $kc) (i32.const 16)))
                            (br $loop_co)))))
                      (local.set $ci (i32.add (local.get $ci) (i32.const 1)))
                      (br $loop_ci)))))
                (local.set $kx (i32.add (local.get $kx) (i32.const 1)))
                (br $loop_kx)))))
          (local.set $ky (i32.add (local.get $ky) (i32.const 1)))
          (br $loop_ky)))
        (local.set $ax (i32.add (local.get $ax) (i32.const 1)))
        (br $loop_ax)))
      (local.set $ay (i32.add (local.get $ay) (i32.const 1)))
      (br $loop_ay)))))
