;; A validator whose component holds four core modules, each with its own linear memory:
;; one small, three of 60 MiB. Each memory alone is under the default 64 MiB cap; the
;; instance's total is not. The host must count them together.
(component
  (type $check (record
    (field "name" string) (field "passed" bool) (field "expected" string)
    (field "actual" string) (field "message" string)))
  (export $check-t "check" (type $check))
  (type $result (record (field "checks" (list $check-t))))
  (export $result-t "validation-result" (type $result))
  (type $host-error (variant
    (case "denied" string) (case "unavailable" string)
    (case "invalid" string) (case "timeout" string)))
  (export $host-error-t "host-error" (type $host-error))
  (type $plugin-error (variant
    (case "config" string) (case "host" $host-error-t) (case "internal" string)))
  (export $plugin-error-t "plugin-error" (type $plugin-error))
  (type $context (record
    (field "run-id" string) (field "scenario" string)
    (field "request-ids" (list string)) (field "config" string)))
  (export $context-t "run-context" (type $context))

  (core module $main
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 4096))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and (i32.add (global.get $next) (i32.const 7)) (i32.const -8)))
      (global.set $next (i32.add (local.get $p) (local.get 3)))
      (local.get $p))
    ;; Ok with no checks, at address 0.
    (func (export "validate") (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
      (i32.store8 (i32.const 0) (i32.const 0))
      (i32.store (i32.const 4) (i32.const 0))
      (i32.store (i32.const 8) (i32.const 0))
      (i32.const 0)))
  (core module $hoard (memory 960))
  (core instance $m (instantiate $main))
  (core instance $a (instantiate $hoard))
  (core instance $b (instantiate $hoard))
  (core instance $c (instantiate $hoard))
  (func $validate (param "ctx" $context-t) (result (result $result-t (error $plugin-error-t)))
    (canon lift (core func $m "validate") (memory (core memory $m "memory")) (realloc (core func $m "realloc"))))
  (export "validate" (func $validate)))
