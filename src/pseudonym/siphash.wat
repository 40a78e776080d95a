;; SipHash-2-4 (siphash.ts) in WebAssembly, for its 64-bit adds and rotations: JavaScript keeps each
;; 64-bit lane as two 32-bit halves, with the carry by hand. `npm run wasm` compiles this file into
;; siphash-wasm.ts; a test checks that the two agree and that it hashes as the JavaScript does.
;;
;; hash(len, k0 low, k0 high, k1 low, k1 high): the message is memory[16, 16 + len), put there by the
;; caller; the 64-bit result is stored little-endian at memory[0, 8).
(module
  (memory (export "memory") 1)
  (func $rounds (param $n i32) (param $v0 i64) (param $v1 i64) (param $v2 i64) (param $v3 i64) (result i64 i64 i64 i64)
    (loop $round
      (local.set $v0 (i64.add (local.get $v0) (local.get $v1)))
      (local.set $v1 (i64.xor (i64.rotl (local.get $v1) (i64.const 13)) (local.get $v0)))
      (local.set $v0 (i64.rotl (local.get $v0) (i64.const 32)))
      (local.set $v2 (i64.add (local.get $v2) (local.get $v3)))
      (local.set $v3 (i64.xor (i64.rotl (local.get $v3) (i64.const 16)) (local.get $v2)))
      (local.set $v0 (i64.add (local.get $v0) (local.get $v3)))
      (local.set $v3 (i64.xor (i64.rotl (local.get $v3) (i64.const 21)) (local.get $v0)))
      (local.set $v2 (i64.add (local.get $v2) (local.get $v1)))
      (local.set $v1 (i64.xor (i64.rotl (local.get $v1) (i64.const 17)) (local.get $v2)))
      (local.set $v2 (i64.rotl (local.get $v2) (i64.const 32)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $round (local.get $n)))
    (local.get $v0) (local.get $v1) (local.get $v2) (local.get $v3))
  (func (export "hash") (param $len i32) (param $k0l i32) (param $k0h i32) (param $k1l i32) (param $k1h i32)
    (local $k0 i64) (local $k1 i64) (local $v0 i64) (local $v1 i64) (local $v2 i64) (local $v3 i64)
    (local $m i64) (local $p i32) (local $end i32) (local $j i32)
    (local.set $k0 (i64.or (i64.extend_i32_u (local.get $k0l)) (i64.shl (i64.extend_i32_u (local.get $k0h)) (i64.const 32))))
    (local.set $k1 (i64.or (i64.extend_i32_u (local.get $k1l)) (i64.shl (i64.extend_i32_u (local.get $k1h)) (i64.const 32))))
    (local.set $v0 (i64.xor (local.get $k0) (i64.const 0x736f6d6570736575)))
    (local.set $v1 (i64.xor (local.get $k1) (i64.const 0x646f72616e646f6d)))
    (local.set $v2 (i64.xor (local.get $k0) (i64.const 0x6c7967656e657261)))
    (local.set $v3 (i64.xor (local.get $k1) (i64.const 0x7465646279746573)))
    ;; every full 8-byte block
    (local.set $p (i32.const 16))
    (local.set $end (i32.add (i32.const 16) (i32.and (local.get $len) (i32.const -8))))
    (block $blocks_done
      (loop $block
        (br_if $blocks_done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $m (i64.load (local.get $p)))
        (call $rounds (i32.const 2) (local.get $v0) (local.get $v1) (local.get $v2) (i64.xor (local.get $v3) (local.get $m)))
        (local.set $v3) (local.set $v2) (local.set $v1) (local.set $v0)
        (local.set $v0 (i64.xor (local.get $v0) (local.get $m)))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (br $block)))
    ;; the last block: the bytes left, and the length mod 256 in the top byte
    (local.set $m (i64.shl (i64.extend_i32_u (i32.and (local.get $len) (i32.const 255))) (i64.const 56)))
    (local.set $j (i32.const 0))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (i32.add (local.get $p) (local.get $j)) (i32.add (i32.const 16) (local.get $len))))
        (local.set $m (i64.or (local.get $m)
          (i64.shl (i64.load8_u (i32.add (local.get $p) (local.get $j))) (i64.extend_i32_u (i32.shl (local.get $j) (i32.const 3))))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $tail)))
    (call $rounds (i32.const 2) (local.get $v0) (local.get $v1) (local.get $v2) (i64.xor (local.get $v3) (local.get $m)))
    (local.set $v3) (local.set $v2) (local.set $v1) (local.set $v0)
    (local.set $v0 (i64.xor (local.get $v0) (local.get $m)))
    ;; finalisation
    (call $rounds (i32.const 4) (local.get $v0) (local.get $v1) (i64.xor (local.get $v2) (i64.const 0xff)) (local.get $v3))
    (local.set $v3) (local.set $v2) (local.set $v1) (local.set $v0)
    (i64.store (i32.const 0) (i64.xor (i64.xor (local.get $v0) (local.get $v1)) (i64.xor (local.get $v2) (local.get $v3))))))
